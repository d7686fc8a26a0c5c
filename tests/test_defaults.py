"""Defaults that deliver: early stopping decides the epochs, and the defaults learn."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

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


def test_validation_inside_epochs_stops_and_keeps_weights_from_within_one(split):
    """validation_interval=k: a validation every k steps and at every epoch's end;
    patience counts validations, so the fit may end partway through an epoch, with the
    weights of its best validation (the model scores exactly that figure again)."""
    train, _ = split
    train2, val = leave_last_out_split(train)
    kw = dict(embed_dim=16, batch_size=1024, random_state=0)  # about 12 steps an epoch
    est = YoutubeDNN(**kw, validation_interval=5, n_iter_no_change=3).fit(
        train2, validation_data=val
    )
    where, scores = np.array(est.validation_epochs_), est.validation_scores_
    assert len(scores) == len(where) > est.n_epochs_ == len(est.loss_curve_)
    # two validations inside each full epoch (after steps 5 and 10 of its S) and one at
    # its end
    steps = round(5 / where[0])
    assert 10 < steps < 15
    np.testing.assert_allclose(where[:4], [5 / steps, 10 / steps, 1, 1 + 5 / steps])
    assert np.all(np.diff(where) > 0)
    assert where[-1] < est.n_epochs_  # stopped partway through its last epoch
    best = int(np.argmax(scores))
    assert est.best_epoch_ == int(np.ceil(where[best]))
    assert len(scores) - 1 - best == 3  # patience ran out, in validations
    assert est.score(val) == pytest.approx(scores[best], abs=1e-6)  # the kept weights


def test_auto_validation_interval_is_once_an_epoch_on_short_epochs(split):
    """"auto" validates once an epoch while an epoch has at most 4,000 steps (the
    shipped datasets): the same fit, bit for bit, as an interval of a whole epoch."""
    train, _ = split
    kw = dict(embed_dim=16, n_epochs=4, random_state=0)
    auto = YoutubeDNN(**kw).fit(train)
    whole = YoutubeDNN(**kw, validation_interval=10_000).fit(train)
    assert auto.validation_epochs_ == [1.0, 2.0, 3.0, 4.0]
    assert auto.validation_scores_ == whole.validation_scores_
    np.testing.assert_array_equal(auto.transform_items(), whole.transform_items())
    assert YoutubeDNN()._validation_every(4_000) == 4_000  # once an epoch
    assert YoutubeDNN()._validation_every(10_000) == 3_334  # 3 equal parts of a long one
    with pytest.raises(ValueError, match="validation_interval must be an integer >= 1"):
        YoutubeDNN(validation_interval=0).fit(train)


def test_files_pickled_before_validation_interval_load_with_its_default(split):
    """An estimator pickled before a parameter existed unpickles with the parameter's
    default (get_params and clone work), and once-an-epoch validation positions."""
    train, _ = split
    est = YoutubeDNN(embed_dim=8, n_epochs=3, random_state=0).fit(train)
    del est.validation_interval, est.validation_epochs_  # as written by an older skmatch
    old = pickle.loads(pickle.dumps(est))
    assert old.validation_interval == "auto" and clone(old).get_params() == clone(
        YoutubeDNN(embed_dim=8, n_epochs=3, random_state=0)
    ).get_params()
    assert old.validation_epochs_ == [1.0, 2.0, 3.0]


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
