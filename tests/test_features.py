"""FeatureSpec, Vocabulary, Interactions and history gathering."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skmatch import FeatureSpec
from skmatch.exceptions import DataError, NotFittedError, UnknownIdError
from skmatch.features import OOV, PAD, Interactions, Vocabulary


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u1", "u2", "u3"],
            "item_id": [10, 11, 10, 12, 13, 11],
            "timestamp": [3, 1, 5, 2, 4, 9],
            "genres": ["A|B", "B", "A|B", "C|A|B", None, "B"],
            "age": [20, 20, 30, 20, 31, 40],
            "price": [1.0, 2.0, 1.0, np.nan, 5.0, 2.0],
        }
    )


def test_vocabulary_reserves_padding_and_oov():
    vocab = Vocabulary.learn(["b", "a", "b", "c"])
    assert list(vocab.categories) == ["a", "b", "c"]
    assert len(vocab) == 5
    codes = vocab.encode(["a", "c", "zzz"], column="x")
    np.testing.assert_array_equal(codes, [2, 4, OOV])
    assert PAD == 0
    np.testing.assert_array_equal(vocab.decode([0, 2, 4]).tolist(), [None, "a", "c"])
    with pytest.raises(UnknownIdError, match=r"'x' has 1 value.*'zzz'"):
        vocab.encode(["a", "zzz"], column="x", handle_unknown="error")


def test_vocabulary_min_count_and_mixed_ids():
    vocab = Vocabulary.learn([1, 1, 2, "a", "a"], min_count=2)
    assert set(vocab.categories) == {1, "a"}
    assert vocab.encode([2], column="x")[0] == OOV


def test_histories_are_previous_items_in_time_order(frame):
    spec = FeatureSpec(max_seq_len=2).fit(frame)
    inter = spec.transform(frame)
    item = spec.encode_items
    # u1 events by time: 11 (t1), 12 (t2), 10 (t3)
    hist = inter.histories()
    np.testing.assert_array_equal(hist[0], item([11, 12]))  # row 0 is u1 @ t3
    np.testing.assert_array_equal(hist[1], [0, 0])  # u1 @ t1: nothing before
    np.testing.assert_array_equal(hist[3], [0, item([11])[0]])
    np.testing.assert_array_equal(inter.positions, [2, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(
        inter.user_histories(spec.encode_users(["u1", "u2"]), max_len=3),
        [item([11, 12, 10]), [0, *item([13, 10])]],
    )


def test_ties_in_time_broken_by_row_order():
    df = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 6, 7], "timestamp": [0, 0, 0]})
    inter = FeatureSpec(max_seq_len=3).fit_transform(df)
    np.testing.assert_array_equal(inter.positions, [0, 1, 2])


def test_row_order_when_time_column_absent(frame):
    df = frame.drop(columns="timestamp")
    spec = FeatureSpec().fit(df)
    assert spec.time_col_ is None
    np.testing.assert_array_equal(spec.transform(df).positions, [0, 1, 0, 2, 1, 0])


def test_explicit_missing_time_col_is_an_error(frame):
    with pytest.raises(DataError, match="time_col='when'"):
        FeatureSpec(time_col="when").fit(frame)


def test_feature_kinds_and_tables(frame):
    spec = FeatureSpec(user_features=["age"], item_features=["genres", "price"]).fit(frame)
    assert spec.feature_kinds_ == {"age": "sparse", "genres": "multi", "price": "dense"}
    assert spec.max_tokens_["genres"] == 3
    table = spec.item_table_["genres"]
    assert table.shape == (len(spec.items_), 3)
    np.testing.assert_array_equal(table[:2], 0)
    tokens = spec.vocabularies_["genres"]
    row = table[spec.encode_items([12])[0]]
    np.testing.assert_array_equal(row, tokens.encode(["C", "A", "B"], column="genres"))
    # users: the latest row's value (u2's latest event has age 30)
    age_u2 = spec.user_table_["age"][spec.encode_users(["u2"])[0]]
    assert age_u2 == spec.vocabularies_["age"].encode([30], column="age")[0]
    price = spec.item_table_["price"]
    assert price.dtype == np.float32 and np.isfinite(price).all()


def test_transform_returns_interactions_with_features(frame):
    spec = FeatureSpec(user_features=["age"], item_features=["genres"])
    inter = spec.fit_transform(frame)
    assert isinstance(inter, Interactions)
    assert len(inter) == 6
    assert inter.user_features["age"].shape == (6,)
    assert inter.user_codes.dtype == np.int64
    names = spec.get_feature_names_out()
    # one name per per-row array of the Interactions; item features live per item
    assert names.tolist() == ["user_id", "item_id", "timestamp", "age", "history_item_id"]
    per_row = [inter.user_codes, inter.item_codes, inter.times, inter.user_features["age"],
               inter.histories()]  # fmt: skip
    assert all(len(a) == len(inter) for a in per_row)


def test_min_count_leaving_nothing_names_the_counts(frame):
    with pytest.raises(DataError, match=r"no item to .* 1 of 3 users .* 0 of 4 items .* 2 for an"):
        FeatureSpec(min_count=3).fit(frame)
    with pytest.raises(DataError, match=r"no user and no item .* 0 of 3 users .* 0 of 4 items"):
        FeatureSpec(min_count=4).fit(frame)


def test_inverse_transform_round_trip(frame):
    spec = FeatureSpec().fit(frame)
    codes = spec.encode_items([13, 10, 12])
    np.testing.assert_array_equal(spec.inverse_transform_items(codes), [13, 10, 12])
    assert spec.inverse_transform_items([0])[0] == -1  # integer ids: -1 sentinel
    assert spec.inverse_transform_users(spec.encode_users(["u3"]))[0] == "u3"
    assert spec.inverse_transform_users([1])[0] is None


def test_handle_unknown_error_names_ids(frame):
    spec = FeatureSpec(handle_unknown="error").fit(frame)
    new = frame.assign(user_id=["u1", "zz", "u2", "u1", "yy", "u3"])
    with pytest.raises(UnknownIdError, match=r"'user_id' has 2 value.*'zz'"):
        spec.transform(new)
    oov = FeatureSpec().fit(frame).transform(new)
    assert (oov.user_codes == OOV).sum() == 2


@pytest.mark.parametrize(
    ("make", "err", "match"),
    [
        (lambda f: f.iloc[:0], DataError, "empty"),
        (lambda f: f.drop(columns="item_id"), DataError, "'item_id'"),
        (
            lambda f: f.assign(user_id=["u1", None, "u2", np.nan, "u2", "u3"]),
            DataError,
            r"'user_id' has 2 missing value\(s\).*\[1, 3\]",
        ),
        (lambda f: f.to_numpy(), TypeError, "DataFrame"),
        (lambda f: f.assign(timestamp=["a"] * 6), DataError, "numeric or datetime"),
        (
            lambda f: f.assign(weight=[1.0, -0.5, 2.0, 0.0, -1.0, 1.0]),
            DataError,
            r"'weight' has 2 negative value\(s\) at row position\(s\) \[1, 4\]",
        ),
    ],
)
def test_bad_input_errors(frame, make, err, match):
    with pytest.raises(err, match=match):
        FeatureSpec().fit_transform(make(frame))


def test_bad_params(frame):
    with pytest.raises(ValueError, match="max_seq_len"):
        FeatureSpec(max_seq_len=0).fit(frame)
    with pytest.raises(ValueError, match="handle_unknown"):
        FeatureSpec(handle_unknown="ignore").fit(frame)
    with pytest.raises(TypeError, match="user_features"):
        FeatureSpec(user_features="age").fit(frame)


def test_unfitted_and_clone(frame):
    with pytest.raises(NotFittedError):
        FeatureSpec().transform(frame)
    spec = FeatureSpec(max_seq_len=7).fit(frame)
    fresh = clone(spec)
    assert fresh.max_seq_len == 7 and not hasattr(fresh, "items_")


def test_datetime_times_and_labels():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1],
            "item_id": [1, 2, 3],
            "timestamp": pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-02"]),
            "label": [1, 0, 1],
        }
    )
    inter = FeatureSpec(max_seq_len=3).fit_transform(df)
    # negatives (label 0) never enter histories
    np.testing.assert_array_equal(inter.history.items, [4, 2])  # item 3 (code 4), then item 1
    np.testing.assert_array_equal(inter.positions, [1, 0, 0])
    assert inter.labels.tolist() == [1.0, 0.0, 1.0]


def test_history_memory_is_per_row_not_per_window():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"user_id": rng.integers(0, 100, 50_000), "item_id": rng.integers(0, 999, 50_000)}
    )
    inter = FeatureSpec(max_seq_len=200).fit_transform(df)
    assert inter.history.items.size == 50_000
    batch = inter.histories(np.arange(10))
    assert batch.shape == (10, 200)


def test_inverse_transform_refuses_codes_out_of_range_or_not_integers(frame):
    spec = FeatureSpec().fit(frame)
    with pytest.raises(ValueError, match=r"2 item code\(s\) are outside 0..5 \(first: \[999, -3\]"):
        spec.inverse_transform_items([2, 999, -3])
    with pytest.raises(TypeError, match="item codes must be integers"):
        spec.inverse_transform_items([2.7])
    with pytest.raises(ValueError, match="user code"):
        spec.inverse_transform_users(np.array([7]))
    assert spec.inverse_transform_items([]).size == 0


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (dict(item_features=["genres"], feature_types=["dense"]), TypeError, "feature_types must"),
        (dict(user_features=None), TypeError, "user_features must be a list or tuple"),
        (dict(item_features=["genres"], feature_types={"genre": "multi"}), ValueError,
         r"1 column\(s\) that are no user or item feature: \['genre'\]"),
    ],
)
def test_feature_parameters_are_checked(frame, params, error, match):
    with pytest.raises(error, match=match):
        FeatureSpec(**params).fit(frame)


def test_list_valued_cells_get_a_hint_to_join_them(frame):
    listy = frame.assign(genres=[["A", "B"]] * len(frame))
    with pytest.raises(DataError, match=r"'genres' holds 6 list-like .*str.join\('\|'\)"):
        FeatureSpec(user_features=["genres"]).fit(listy)
    spec = FeatureSpec(user_features=["genres"]).fit(frame)
    with pytest.raises(DataError, match="list-like"):
        spec.transform(listy)


def test_more_values_than_seen_in_fit_are_dropped_with_a_warning(frame):
    spec = FeatureSpec(user_features=["genres"]).fit(frame)  # widest row: 3 values
    with pytest.warns(UserWarning, match=r"1 row\(s\) hold more than the 3 values"):
        inter = spec.transform(frame.assign(genres=["A|B|C|D"] + ["A"] * 5))
    assert len(inter) == 6


def test_tz_aware_times_order_by_the_utc_instant():
    import warnings

    times = pd.to_datetime(
        ["2024-04-01 12:00+02:00", "2024-04-01 11:30+00:00", "2024-03-30 12:00+01:00"],
        format="mixed",
        utc=True,
    ).tz_convert("Europe/Berlin")
    df = pd.DataFrame({"user_id": ["a"] * 3, "item_id": [1, 2, 3], "timestamp": times})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's timezone warning included
        inter = FeatureSpec().fit_transform(df)
    assert inter.history.items.tolist() == [4, 2, 3]  # items 3, 1, 2 in UTC order
