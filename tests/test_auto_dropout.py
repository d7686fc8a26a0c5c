"""``dropout="auto"``: resolved once from the data's density, used, saved."""

from __future__ import annotations

import pytest

from skmatch.datasets import make_interactions
from skmatch.models import MIND, SINE, ComirecDR, ComirecSA, GRU4Rec, SASRec
from skmatch.nn.dropout import Dropout

MODELS = [SASRec, GRU4Rec, MIND, ComirecDR, ComirecSA, SINE]
FAST = dict(n_epochs=1, early_stopping=False, embed_dim=8, random_state=0)


@pytest.fixture(scope="module")
def sparse():  # about 8 events per user: Amazon-like
    return make_interactions(60, 40, seq_len=(5, 11), random_state=0)


@pytest.fixture(scope="module")
def dense():  # about 50 events per user: MovieLens-like
    return make_interactions(60, 40, seq_len=(40, 60), random_state=0)


def _rates(model) -> set[float]:
    return {m.p for m in model.module_.modules() if isinstance(m, Dropout)}


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_auto_follows_the_density_and_reaches_the_module(cls, sparse, dense):
    on_sparse = cls(dropout="auto", **FAST).fit(sparse)
    on_dense = cls(dropout="auto", **FAST).fit(dense)
    assert on_sparse.dropout_ == 0.5
    assert on_dense.dropout_ == 0.2
    assert on_sparse.get_params()["dropout"] == "auto"  # the parameter is not rewritten
    assert 0.5 in _rates(on_sparse) and 0.5 not in _rates(on_dense)


@pytest.mark.parametrize("cls", [SASRec, ComirecDR], ids=lambda c: c.__name__)
def test_a_given_rate_is_kept_and_the_fitted_rate_is_saved(cls, sparse, tmp_path):
    model = cls(dropout=0.1, **FAST).fit(sparse)
    assert model.dropout_ == 0.1 and _rates(model) <= {0.0, 0.1}
    auto = cls(dropout="auto", **FAST).fit(sparse)
    auto.save(tmp_path / "m.skm")
    again = cls.load(tmp_path / "m.skm")
    assert again.dropout_ == 0.5 and 0.5 in _rates(again)


@pytest.mark.parametrize("bad", ["high", 1.0, -0.1])
@pytest.mark.parametrize("cls", [SASRec, ComirecSA], ids=lambda c: c.__name__)
def test_a_bad_dropout_is_refused_by_name(cls, bad, sparse):
    with pytest.raises((ValueError, TypeError), match="dropout"):
        cls(dropout=bad, **FAST).fit(sparse)
