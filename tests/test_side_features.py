"""Side features reach every model; cold start from features; Torch-RecHub's settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.exceptions import DataError
from skmatch.models import DSSM, SASRec, YoutubeDNN, all_estimators

NEURAL = all_estimators("neural")
FAST = dict(n_epochs=1, embed_dim=8, random_state=0, early_stopping=False)
SPEC = FeatureSpec(max_seq_len=20, user_features=["segment"], item_features=["category"])


@pytest.fixture(scope="module")
def frame():
    return make_interactions(n_users=150, n_items=60, random_state=0)


@pytest.fixture(scope="module")
def fitted(frame):
    return {cls: cls(feature_spec=SPEC, **FAST).fit(frame) for cls in NEURAL}


@pytest.mark.parametrize("cls", NEURAL, ids=lambda c: c.__name__)
def test_a_user_feature_changes_the_user_vector(cls, fitted, frame):
    est = fitted[cls]
    hist = frame[frame["user_id"] == "u3"]
    other = "s0" if hist["segment"].iloc[-1] != "s0" else "s1"
    a, b = est.transform_users(hist), est.transform_users(hist.assign(segment=other))
    assert not np.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cls", NEURAL, ids=lambda c: c.__name__)
def test_an_item_feature_changes_the_item_vectors(cls, fitted):
    """The scored item table reads the category: giving an item another item's category
    (in the tables the module reads) changes its vector."""
    est = fitted[cls]
    cats = est.feature_spec_.item_table_["category"]
    a = 2
    b = int(np.flatnonzero(cats != cats[a])[-1])  # an item of another category
    tables = [t for name, t in est.module_.named_buffers() if name.endswith("category.table")]
    assert tables, "the item tower holds no category table"
    before = est.module_.item_forward(torch.tensor([a])).detach().clone()
    saved = [t[a].clone() for t in tables]
    for t in tables:
        t[a] = t[b]
    try:
        after = est.module_.item_forward(torch.tensor([a])).detach()
    finally:
        for t, v in zip(tables, saved, strict=True):
            t[a] = v
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("cls", [SASRec, DSSM, YoutubeDNN], ids=lambda c: c.__name__)
def test_cold_items_are_embedded_from_features_and_recommended(cls, frame):
    cold_ids = ["i1", "i2", "i3"]
    warm = frame[~frame["item_id"].isin(cold_ids)]
    est = cls(feature_spec=SPEC, **FAST).fit(warm)
    items = frame[frame["item_id"].isin(cold_ids)].drop_duplicates("item_id")
    items = items[["item_id", "category"]]
    vectors = est.transform_items(items)
    assert vectors.shape == (3, est.embed_dim) and est.n_items_ == 57  # not added yet
    est.add_items(items)
    assert est.n_items_ == 60
    np.testing.assert_allclose(est.transform_items(items["item_id"]), vectors, atol=1e-6)
    ids, scores = est.recommend(warm["user_id"].unique()[:20], k=est.n_items_)
    assert np.isin(cold_ids, ids[np.isfinite(scores)]).all()  # ranked among the unseen
    same_cat = items.groupby("category")["item_id"].apply(list)
    for group in same_cat:  # features alone: items of one category share a vector
        vecs = est.transform_items(group)
        np.testing.assert_allclose(vecs, vecs[:1].repeat(len(group), 0), atol=1e-6)
    with pytest.raises(DataError, match="'category'"):
        est.add_items(items.drop(columns="category"))


def test_users_from_features_alone(fitted):
    est = fitted[SASRec]
    users = pd.DataFrame({"user_id": ["cold-a", "cold-b"], "segment": ["s0", "s1"]})
    vectors = est.transform_users(users)
    assert vectors.shape == (2, 8) and not np.allclose(vectors[0], vectors[1])
    ids, _ = est.recommend(users, k=5)
    assert ids.shape == (2, 5)


def test_missing_or_retyped_feature_columns_are_refused(fitted, frame):
    est = fitted[SASRec]
    hist = frame[frame["user_id"] == "u3"]
    with pytest.raises(DataError, match="'segment'"):
        est.recommend(hist.drop(columns="segment"))
    retyped = hist.assign(segment=np.arange(len(hist)))
    with pytest.raises(DataError, match=r"'segment' held text values in fit but holds numeric"):
        est.recommend(retyped)


def test_per_user_exclusion_lists(fitted):
    est = fitted[DSSM]
    users = ["u1", "u2"]
    top = est.recommend(users, k=3, return_scores=False)
    per_user = est.recommend(users, k=3, exclude=[[top[0, 0]], [top[1, 1]]], return_scores=False)
    for row, (user, ban) in enumerate(zip(users, (top[0, 0], top[1, 1]), strict=True)):
        alone = est.recommend([user], k=3, exclude=[ban], return_scores=False)[0]
        np.testing.assert_array_equal(per_user[row], alone)  # only its own list applies
        assert ban not in per_user[row]
    with pytest.raises(ValueError, match="1 per-user lists for 2 users"):
        est.recommend(users, exclude=[["i1"]])
    with pytest.raises(TypeError, match="mixes item ids and lists"):
        est.recommend(users, exclude=[["i1"], "i2"])


@pytest.mark.parametrize(
    ("cls", "change"),
    [
        (DSSM, dict(activation="prelu")),
        (DSSM, dict(user_hidden_dims=(32,))),
        (DSSM, dict(item_hidden_dims=(16, 16))),
        (SASRec, dict(hidden_size=32)),
        (SASRec, dict(block="ligr")),
        (SASRec, dict(block="sasrec")),
        (SASRec, dict(position_anchor="first")),
        (SASRec, dict(num_heads=4)),
        (SASRec, dict(num_layers=1)),
        (SASRec, dict(max_length=10)),
        *[(c, dict(dropout=0.3)) for c in NEURAL if c.__name__ in
          ("STAMP", "MIND", "ComirecDR", "ComirecSA", "SINE")],
        (all_estimators("multi_interest")[0], dict(n_interest=2)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_every_setting_changes_the_module_or_the_loss(cls, change, frame):
    plain = cls(**FAST).fit(frame)
    other = cls(**FAST, **change).fit(frame)
    shapes = {k: tuple(v.shape) for k, v in plain.module_.state_dict().items()}
    changed_shape = shapes != {k: tuple(v.shape) for k, v in other.module_.state_dict().items()}
    assert changed_shape or other.loss_curve_ != plain.loss_curve_


def test_torch_rechub_modes_and_tower_dicts():
    assert DSSM(mode=0).mode == 0 and DSSM(user_params={"dims": [32, 16]}).embed_dim == 16
    est = DSSM(user_params={"dims": [64, 32], "activation": "PReLU", "dropout": 0.1})
    assert (est.user_hidden_dims, est.activation, est.dropout) == ((64,), "prelu", 0.1)
    with pytest.raises(TypeError, match="user_params must be a dict"):
        DSSM(user_params=[64])
    with pytest.raises(TypeError, match="unexpected parameter"):
        YoutubeDNN(item_params={"dims": [8]})


def test_mode_numbers_train_as_their_names(frame):
    small = frame[frame["user_id"].isin([f"u{i}" for i in range(40)])]
    for number, name in ((0, "pointwise"), (1, "pairwise"), (2, "listwise")):
        a = DSSM(mode=number, negatives="mixed", **FAST).fit(small)
        b = DSSM(mode=name, negatives="mixed", **FAST).fit(small)
        assert a.loss_curve_ == b.loss_curve_
    with pytest.raises(ValueError, match="mode"):
        DSSM(mode=3, **FAST).fit(small)
