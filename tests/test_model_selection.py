"""Tests for skmatch.model_selection splitters."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, cross_validate

from skmatch import FeatureSpec
from skmatch.exceptions import DataError
from skmatch.model_selection import LeaveLastOut, TemporalSplit, leave_last_out_split
from skmatch.utils._ordering import last_n_mask


@pytest.fixture
def df() -> pd.DataFrame:
    # user "a": rows 0, 2, 4, 5 with times 3, 1, 3, 2 -> order by (time, row): 2, 5, 0, 4
    # user "b": rows 1, 3 with times 7, 7 -> order 1, 3 (tie: the later row is later)
    # user "c": row 6 only
    return pd.DataFrame(
        {
            "user_id": ["a", "b", "a", "b", "a", "a", "c"],
            "item_id": [10, 11, 12, 13, 14, 15, 16],
            "timestamp": [3, 7, 1, 7, 3, 2, 5],
        }
    )


def _split(cv, X):
    splits = list(cv.split(X))
    assert len(splits) == cv.get_n_splits() == 1
    return splits[0]


def test_leave_last_out_ties_broken_by_row_order(df):
    with pytest.warns(UserWarning, match=r"1 user\(s\).*\['c'\].*kept in train"):
        train, test = _split(LeaveLastOut(), df)
    np.testing.assert_array_equal(test, [3, 4])
    np.testing.assert_array_equal(train, [0, 1, 2, 5, 6])
    assert train.dtype.kind == "i" and test.dtype.kind == "i"


def test_leave_last_out_n_test_2(df):
    with pytest.warns(UserWarning, match=r"2 user\(s\).*\['b', 'c'\]"):
        train, test = _split(LeaveLastOut(n_test=2), df)
    np.testing.assert_array_equal(test, [0, 4])
    np.testing.assert_array_equal(train, [1, 2, 3, 5, 6])


def test_leave_last_out_without_time_column_uses_row_order(df):
    no_time = df.drop(columns="timestamp")
    with pytest.warns(UserWarning):
        _, test = _split(LeaveLastOut(), no_time)
    np.testing.assert_array_equal(test, [3, 5])
    with pytest.warns(UserWarning):
        _, test_none = _split(LeaveLastOut(time_col=None), df)
    np.testing.assert_array_equal(test_none, [3, 5])


def test_labelled_data_holds_out_each_users_last_positives_and_what_follows():
    # user a: t1 pos, t2 pos, t3 neg, t4 pos, t5 neg; user b: pos, neg; user c: neg only
    df = pd.DataFrame(
        {
            "user_id": ["a", "b", "a", "a", "c", "a", "b", "a"],
            "item_id": [1, 2, 3, 4, 5, 6, 7, 8],
            "timestamp": [2, 1, 5, 3, 1, 1, 2, 4],
            "label": [1, 1, 0, 0, 0, 1, 0, 1],
        }
    )
    with pytest.warns(UserWarning, match=r"2 user\(s\) have at most n_test=1 positive"):
        train, test = _split(LeaveLastOut(), df)
    # a's last positive is item 8 (t4): it and the later negative (item 3, t5) are test
    np.testing.assert_array_equal(test, [2, 7])
    np.testing.assert_array_equal(train, [0, 1, 3, 4, 5, 6])
    with pytest.warns(UserWarning):
        _, test2 = _split(LeaveLastOut(n_test=2), df)
    np.testing.assert_array_equal(test2, [0, 2, 3, 7])  # from a's 2nd-last positive (t2) on
    with pytest.warns(UserWarning):  # label_col=None: every row an event, as before
        _, plain = _split(LeaveLastOut(label_col=None), df)
    np.testing.assert_array_equal(plain, [2, 6])
    inter = FeatureSpec().fit_transform(df)
    with pytest.warns(UserWarning):
        _, from_inter = _split(LeaveLastOut(), inter)
    np.testing.assert_array_equal(from_inter, test)
    with pytest.warns(UserWarning):  # label_col=None means every row for either input
        _, inter_plain = _split(LeaveLastOut(label_col=None), inter)
    np.testing.assert_array_equal(inter_plain, plain)
    with pytest.raises(DataError, match=r"'label' has 1 missing or infinite.*\[2\]"):
        _split(LeaveLastOut(), df.assign(label=[1, 1, None, 0, 0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"'label' must be numeric"):
        _split(LeaveLastOut(), df.assign(label=[1, 1, "x", 0, 0, 1, 0, 1]))


def test_a_misspelt_time_column_is_an_error_not_row_order(df):
    for cv in (LeaveLastOut(time_col="ts"), TemporalSplit(0.5, time_col="ts")):
        with pytest.raises(DataError, match=r"time_col='ts' is not a column of X"):
            _split(cv, df)
    with pytest.raises(DataError, match="time_col='ts'"):
        leave_last_out_split(df, time_col="ts")


def test_leave_last_out_datetime_times(df):
    dated = df.assign(timestamp=pd.to_datetime(df["timestamp"], unit="D"))
    with pytest.warns(UserWarning):
        _, test = _split(LeaveLastOut(), dated)
    np.testing.assert_array_equal(test, [3, 4])


def test_short_users_modes(df):
    with pytest.warns(UserWarning, match="short_users='train'"):
        train, test = _split(LeaveLastOut(short_users="train"), df)
    assert 6 in train and 6 not in test

    with pytest.warns(UserWarning, match=r"1 row\(s\) are dropped.*short_users='drop'"):
        train, test = _split(LeaveLastOut(short_users="drop"), df)
    np.testing.assert_array_equal(train, [0, 1, 2, 5])
    np.testing.assert_array_equal(test, [3, 4])

    with pytest.raises(ValueError, match=r"1 user\(s\).*n_test=1.*\['c'\]"):
        _split(LeaveLastOut(short_users="error"), df)

    # no short user: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _split(LeaveLastOut(), df[df["user_id"] != "c"])


def test_leave_last_out_errors(df):
    with pytest.raises(DataError, match=r"'user'.*'user_id'"):
        _split(LeaveLastOut(user_col="user"), df)
    with pytest.raises(TypeError, match="DataFrame"):
        _split(LeaveLastOut(), df.to_numpy())
    with pytest.raises(ValueError, match="empty"):
        _split(LeaveLastOut(), df.iloc[:0])
    with pytest.raises(ValueError, match="n_test"):
        _split(LeaveLastOut(n_test=0), df)
    with pytest.raises(ValueError, match="short_users"):
        _split(LeaveLastOut(short_users="keep"), df)
    with pytest.raises(ValueError, match="missing"):
        _split(LeaveLastOut(), df.assign(user_id=[None, *df["user_id"][1:]]))
    with pytest.raises(ValueError, match="timestamp"):
        _split(LeaveLastOut(), df.assign(timestamp=["x"] * len(df)))


def test_leave_last_out_split_function(df):
    with pytest.warns(UserWarning):
        train, test = leave_last_out_split(df)
    pd.testing.assert_frame_equal(test, df.iloc[[3, 4]])
    pd.testing.assert_frame_equal(train, df.iloc[[0, 1, 2, 5, 6]])
    with pytest.warns(UserWarning, match="dropped"):
        train, test = leave_last_out_split(df, 2, short_users="drop", user_col="user_id")
    assert list(test.index) == [0, 4] and list(train.index) == [2, 5]
    with pytest.raises(TypeError):
        leave_last_out_split(df.to_numpy())


def test_interactions_like_object(df):
    codes = pd.factorize(df["user_id"])[0].astype(np.int64)
    obj = types.SimpleNamespace(user_codes=codes, times=df["timestamp"].to_numpy())
    with pytest.warns(UserWarning, match="user codes"):
        _, test = _split(LeaveLastOut(), obj)
    np.testing.assert_array_equal(test, [3, 4])
    no_time = types.SimpleNamespace(user_codes=codes, times=None)
    with pytest.warns(UserWarning):
        _, test = _split(LeaveLastOut(), no_time)
    np.testing.assert_array_equal(test, [3, 5])
    _, test = _split(TemporalSplit(test_size=2), obj)
    np.testing.assert_array_equal(test, [1, 3])


def test_last_n_mask():
    users = np.array([5, 7, 5, 7, 5, 5, 9])
    times = np.array([3, 7, 1, 7, 3, 2, 5])
    np.testing.assert_array_equal(
        last_n_mask(users, times, 1), [False, False, False, True, True, False, True]
    )
    np.testing.assert_array_equal(
        last_n_mask(users, times, 2), [True, True, False, True, True, False, True]
    )
    np.testing.assert_array_equal(
        last_n_mask(users, None, 1), [False, False, False, True, False, True, True]
    )
    # object keys and object (string) times give the same answer as their codes
    np.testing.assert_array_equal(
        last_n_mask(users.astype(str).astype(object), times.astype(str), 1),
        last_n_mask(users, times, 1),
    )
    with pytest.raises(ValueError, match="times"):
        last_n_mask(users, times[:3], 1)


def test_last_n_mask_matches_groupby_reference():
    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame(
        {"user": rng.integers(0, 1_000, n), "time": rng.integers(0, 50, n)}  # many ties
    )
    ranked = frame.assign(row=np.arange(n)).sort_values(["user", "time", "row"], kind="stable")
    from_end = ranked.groupby("user").cumcount(ascending=False)
    for n_last in (1, 3):
        expected = np.zeros(n, dtype=bool)
        expected[ranked["row"].to_numpy()[from_end.to_numpy() < n_last]] = True
        got = last_n_mask(frame["user"].to_numpy(), frame["time"].to_numpy(), n_last)
        np.testing.assert_array_equal(got, expected)


def test_temporal_split(df):
    # order by (time, row): 2, 5, 0, 4, 6, 1, 3
    _, test = _split(TemporalSplit(test_size=2), df)
    np.testing.assert_array_equal(test, [1, 3])
    train, test = _split(TemporalSplit(test_size=0.5), df)  # ceil(3.5) = 4
    np.testing.assert_array_equal(test, [1, 3, 4, 6])
    np.testing.assert_array_equal(train, [0, 2, 5])
    _, test = _split(TemporalSplit(test_size=2), df.drop(columns="timestamp"))
    np.testing.assert_array_equal(test, [5, 6])


@pytest.mark.parametrize(
    ("test_size", "error"),
    [
        (0.0, ValueError),
        (1.0, ValueError),
        (0, ValueError),
        (7, ValueError),
        (-2, ValueError),
        ("0.2", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_temporal_split_validates_test_size(df, test_size, error):
    with pytest.raises(error, match="test_size"):
        _split(TemporalSplit(test_size=test_size), df)


def test_repr_and_clone_params():
    assert repr(LeaveLastOut()) == (
        "LeaveLastOut(n_test=1, user_col='user_id', time_col='timestamp', label_col='label', "
        "short_users='train')"
    )
    assert repr(TemporalSplit(0.1, time_col="t")) == "TemporalSplit(test_size=0.1, time_col='t')"


class _CountingEstimator(BaseEstimator):
    """Trivial estimator: ``alpha`` times (1 + share of the test items seen in training)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X, y=None):
        self.items_ = set(X["item_id"])
        return self

    def score(self, X, y=None):
        return self.alpha * (1.0 + float(X["item_id"].isin(self.items_).mean()))


def test_works_in_cross_validate_and_grid_search(df):
    clean = df[df["user_id"] != "c"]
    result = cross_validate(_CountingEstimator(), clean, cv=LeaveLastOut(), return_indices=True)
    np.testing.assert_array_equal(result["indices"]["test"][0], [3, 4])
    np.testing.assert_array_equal(result["indices"]["train"][0], [0, 1, 2, 5])
    result = cross_validate(_CountingEstimator(), clean, cv=TemporalSplit(test_size=2))
    assert result["test_score"].shape == (1,)

    search = GridSearchCV(_CountingEstimator(), {"alpha": [0.5, 2.0]}, cv=LeaveLastOut())
    search.fit(clean)
    assert search.best_params_ == {"alpha": 2.0}


@pytest.mark.realdata
def test_leave_last_out_on_movielens_100k(ml100k):
    train, test = _split(LeaveLastOut(), ml100k)
    assert test.size == ml100k["user_id"].nunique() == 943
    assert train.size + test.size == len(ml100k)
    held_out = ml100k.iloc[test]
    assert held_out["user_id"].is_unique
    # each test row is its user's latest by (timestamp, row position)
    latest = (
        ml100k.assign(row=np.arange(len(ml100k)))
        .sort_values(["timestamp", "row"], kind="stable")
        .groupby("user_id")["row"]
        .last()
    )
    np.testing.assert_array_equal(np.sort(latest.to_numpy()), test)
    train_df, test_df = leave_last_out_split(ml100k)
    assert len(test_df) == 943 and len(train_df) == len(ml100k) - 943


def test_interactions_split_keeps_users_outside_the_vocabulary_apart():
    """Users below min_count share one code; the split must still see each user."""
    from skmatch import FeatureSpec

    frame = pd.DataFrame(
        {"user_id": list("aaabccdd"), "item_id": [1, 2, 3, 1, 2, 3, 1, 2], "timestamp": range(8)}
    )
    inter = FeatureSpec(min_count=3).fit(frame).transform(frame)
    with pytest.warns(UserWarning, match=r"1 user\(s\).*user ids \['b'\]"):
        expected = _split(LeaveLastOut(), frame)
    with pytest.warns(UserWarning, match=r"1 user\(s\).*user ids \['b'\]"):
        got = _split(LeaveLastOut(), inter)
    np.testing.assert_array_equal(got[1], [2, 5, 7])
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
