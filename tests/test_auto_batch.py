"""``batch_size="auto"``: at least 50 steps per epoch on small data, 128 otherwise; used, saved."""

from __future__ import annotations

import pytest

from skmatch.datasets import make_interactions
from skmatch.models import DSSM, NARM, GRU4Rec, SASRec
from skmatch.models.neural import TorchMatcher
from skmatch.training import Callback
from skmatch.training.plans import windows

FAST = dict(n_epochs=1, early_stopping=False, embed_dim=8, random_state=0)


class _Steps(Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_batch_end(self, state) -> None:
        self.steps += 1


@pytest.fixture
def count_steps(monkeypatch):
    """The optimiser steps of the next fits (one counter per fit)."""
    counters = []
    original = TorchMatcher._callbacks

    def with_counter(self, *args, **kwargs):
        counters.append(_Steps())
        return [*original(self, *args, **kwargs), counters[-1]]

    monkeypatch.setattr(TorchMatcher, "_callbacks", with_counter)
    return counters


def _n_windows(model) -> int:
    return windows(model.history_, model.feature_spec_.max_seq_len)[0].size


@pytest.mark.parametrize(
    ("n_users", "expected"),
    [(40, 16), (2_000, None), (9_000, 128)],  # the floor, the 50-step rule, the cap
    ids=["floor", "rule", "cap"],
)
def test_auto_follows_the_number_of_windows(n_users, expected, count_steps):
    df = make_interactions(n_users, 60, seq_len=(3, 12), random_state=0)
    model = GRU4Rec(**FAST).fit(df)
    n = _n_windows(model)
    if expected is None:  # between the floor and the cap: the smallest batch of >= 50 steps
        expected = -(-n // 50)
        assert 16 < expected < 128
    assert model.batch_size_ == expected
    assert count_steps[-1].steps == -(-n // expected)  # the resolved size is what trains
    assert model.get_params()["batch_size"] == "auto"  # the parameter is not rewritten


def test_more_steps_per_epoch_on_small_data_than_a_fixed_128(count_steps):
    df = make_interactions(3_000, 60, seq_len=(3, 12), random_state=0)
    auto = SASRec(**FAST).fit(df)
    fixed = SASRec(batch_size=128, **FAST).fit(df)
    assert fixed.batch_size_ == 128 and auto.batch_size_ < 128
    assert count_steps[0].steps >= 50 > count_steps[1].steps


def test_a_given_size_is_kept_and_the_fitted_size_is_saved(tmp_path):
    df = make_interactions(40, 30, random_state=0)
    assert NARM(batch_size=7, **FAST).fit(df).batch_size_ == 7
    assert DSSM(**FAST).fit(df).batch_size_ == 256  # row models keep their int default
    model = NARM(**FAST).fit(df)
    model.save(tmp_path / "m.skm")
    again = NARM.load(tmp_path / "m.skm")
    assert again.batch_size_ == model.batch_size_ == 16


def test_partial_fit_keeps_the_fitted_size(count_steps):
    df = make_interactions(40, 30, random_state=0)
    model = SASRec(**FAST).fit(df)
    more = make_interactions(40, 30, random_state=1)
    more["user_id"] = more["user_id"].str.replace("u", "v")  # new users, known items
    model.partial_fit(more)
    assert model.batch_size_ == 16


@pytest.mark.parametrize("bad", ["big", 1, 0, 2.5])
def test_a_bad_batch_size_is_refused_by_name(bad):
    df = make_interactions(20, 10, random_state=0)
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        SASRec(batch_size=bad, **FAST).fit(df)
