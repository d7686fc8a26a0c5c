"""Defaults that deliver: early stopping decides the epochs, and the defaults learn."""

from __future__ import annotations

import numpy as np
import pytest

from skmatch.datasets import make_interactions
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import DSSM, MIND, Popularity, SASRec, YoutubeDNN


@pytest.fixture(scope="module")
def split():
    df = make_interactions(n_users=300, n_items=200, n_interests=4, random_state=3)
    return leave_last_out_split(df)


def test_early_stopping_is_the_default_and_records_its_epochs(split):
    train, _ = split
    est = YoutubeDNN(embed_dim=16, random_state=0).fit(train)
    assert est.early_stopping and est.n_epochs == 100
    n = est.n_epochs_
    assert n == est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_)
    assert 1 <= est.best_epoch_ <= n < 100  # it stopped itself, well before the budget
    assert n - est.best_epoch_ == est.n_iter_no_change  # patience ran out
    assert est.validation_scores_[est.best_epoch_ - 1] == max(est.validation_scores_)


def test_a_fixed_budget_without_early_stopping_runs_it_all(split):
    train, _ = split
    est = YoutubeDNN(embed_dim=16, n_epochs=4, early_stopping=False, random_state=0).fit(train)
    assert est.n_epochs_ == len(est.loss_curve_) == 4 and est.validation_scores_ == []
    assert not hasattr(est, "best_epoch_")


def test_validation_data_replaces_the_hold_out(split):
    """With the user's validation frame nothing is held out of X: the loss curve is that
    of a fit without early stopping, epoch for epoch."""
    train, _ = split
    train2, val = leave_last_out_split(train)
    kw = dict(embed_dim=16, n_epochs=6, random_state=0)
    own = YoutubeDNN(**kw, n_iter_no_change=2).fit(train2, validation_data=val)
    plain = YoutubeDNN(**kw, early_stopping=False).fit(train2)
    assert own.loss_curve_ == plain.loss_curve_[: len(own.loss_curve_)]
    assert len(own.validation_scores_) == own.n_epochs_
    watched = YoutubeDNN(**kw, early_stopping=False).fit(train2, validation_data=val)
    assert watched.loss_curve_ == plain.loss_curve_  # recorded only, no stop, no restore
    assert watched.validation_scores_[: own.n_epochs_] == own.validation_scores_
    np.testing.assert_array_equal(watched.transform_items(), plain.transform_items())
    with pytest.raises(TypeError, match="validation_data must be a DataFrame"):
        YoutubeDNN(**kw).fit(train2, validation_data=val.to_numpy())
    with pytest.raises(TypeError, match="Popularity does not train by epochs"):
        Popularity().fit(train2, validation_data=val)


def test_verbose_shows_one_progress_bar_with_loss_and_validation(split, capsys):
    train, _ = split
    YoutubeDNN(embed_dim=8, n_epochs=3, n_iter_no_change=5, verbose=True,
               random_state=0).fit(train)  # fmt: skip
    err = capsys.readouterr().err
    assert "YoutubeDNN" in err and "epoch=3/3" in err and "val ndcg@10=" in err
    assert "best=" in err


@pytest.mark.slow
@pytest.mark.parametrize("cls", [DSSM, SASRec, MIND], ids=lambda c: c.__name__)
def test_defaults_beat_popularity_by_a_clear_margin(cls, split):
    """One model per family, nothing but its defaults (and the seed)."""
    train, test = split
    base = evaluate(Popularity().fit(train), test, k=10)["ndcg@10"]
    ours = evaluate(cls(random_state=0).fit(train), test, k=10)["ndcg@10"]
    assert ours >= 2 * base, (ours, base)
