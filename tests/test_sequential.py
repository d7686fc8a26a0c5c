"""Sequential models: order matters, windows cover every position once, new users."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from skmatch.features import UserHistory
from skmatch.model_selection import leave_last_out_split
from skmatch.models import NARM, STAMP, GRU4Rec, SASRec
from skmatch.models._torch_base import _trim_padding, _windows
from skmatch.nn.sequence import PackedGRU, left_to_right, right_to_left

DEVICE = os.environ.get("SKMATCH_TEST_DEVICE", "cpu")
FAST = dict(embed_dim=16, n_epochs=3, random_state=0, device=DEVICE)
SEQ = [GRU4Rec, NARM, SASRec, STAMP]


@pytest.fixture(scope="module")
def split(synthetic):
    return leave_last_out_split(synthetic)


@pytest.fixture(scope="module")
def fitted(split):
    return {cls: cls(**FAST).fit(split[0]) for cls in SEQ}


@pytest.mark.parametrize("cls", SEQ, ids=[c.__name__ for c in SEQ])
def test_user_embedding_depends_on_history_order(cls, fitted, split):
    train = split[0]
    hist = train[train["user_id"] == "u3"].copy()
    reordered = hist.assign(timestamp=hist["timestamp"].to_numpy()[::-1])
    a = fitted[cls].transform_users(hist)
    b = fitted[cls].transform_users(reordered)
    assert not np.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cls", SEQ, ids=[c.__name__ for c in SEQ])
def test_unknown_items_in_new_history_are_oov(cls, fitted):
    new = pd.DataFrame(
        {"user_id": ["x", "x", "x"], "item_id": ["i1", "never", "i2"], "timestamp": [1, 2, 3]}
    )
    ids, scores = fitted[cls].recommend(new, k=5)
    assert ids.shape == (1, 5) and np.isfinite(scores).all()
    assert not np.isin(ids, ["i1", "i2"]).any()


def test_windows_cover_each_target_once():
    # users with 1, 2, 5 and 8 events, windows of 3
    lengths = np.array([1, 2, 5, 8])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    hist = UserHistory(indptr, np.arange(2, 2 + lengths.sum()), 20)
    users, ends = _windows(hist, 3)
    covered = []
    for u, e in zip(users, ends, strict=True):
        covered.extend(range(max(e - 3, indptr[u] + 1), e))
    expected = [i for u in range(4) for i in range(indptr[u] + 1, indptr[u + 1])]
    assert sorted(covered) == expected  # every position but each user's first, once


def test_packed_gru_ignores_padding():
    torch.manual_seed(0)
    gru = PackedGRU(4, 5)
    x = torch.randn(1, 3, 4)
    padded = torch.cat([torch.randn(1, 2, 4), x], dim=1)  # garbage in the padding
    mask = torch.tensor([[False, False, True, True, True]])
    out_p, last_p = gru(padded, mask)
    out, last = gru(x, torch.ones(1, 3, dtype=torch.bool))
    torch.testing.assert_close(last_p, last)
    torch.testing.assert_close(out_p[:, 2:], out)
    assert (out_p[:, :2] == 0).all()
    lengths = torch.tensor([2])
    y = torch.arange(5.0).view(1, 5)
    torch.testing.assert_close(right_to_left(left_to_right(y, lengths), lengths), y)


def test_trim_padding_keeps_results():
    batch = {"hist": torch.tensor([[0, 0, 3, 4], [0, 0, 0, 5]]), "pos": torch.tensor([1, 2])}
    trimmed = _trim_padding(batch)
    assert trimmed["hist"].tolist() == [[3, 4], [0, 5]]


def test_sasrec_checks_heads_and_last_position_switch(split):
    with pytest.raises(ValueError, match="n_heads"):
        SASRec(embed_dim=10, n_heads=3).fit(split[0])
    with pytest.raises(ValueError, match="train_positions"):
        SASRec(train_positions="some").fit(split[0])
    model = SASRec(**{**FAST, "train_positions": "last", "n_epochs": 1}).fit(split[0])
    assert np.isfinite(model.loss_curve_).all()
