"""Popularity and the BaseMatcher API on real and synthetic data."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skmatch import FeatureSpec
from skmatch.exceptions import DataError
from skmatch.metrics import evaluate, make_ranking_scorer
from skmatch.model_selection import LeaveLastOut, leave_last_out_split
from skmatch.models import Popularity


@pytest.fixture
def tiny():
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "c", "c"],
            "item_id": [1, 2, 1, 3, 1, 2, 4],
            "timestamp": range(7),
        }
    )


def test_popularity_ranks_by_count_and_filters_seen(tiny):
    model = Popularity().fit(tiny)
    np.testing.assert_array_equal(model.item_counts_, [3, 2, 1, 1])
    ids, scores = model.recommend(["a", "b"], k=3)
    np.testing.assert_array_equal(ids[0], [3, 4, -1])  # 1 and 2 seen; tie 3/4 -> lower id
    np.testing.assert_array_equal(scores[0], [1, 1, -np.inf])
    np.testing.assert_array_equal(ids[1], [2, 4, -1])
    ids, _ = model.recommend(["a"], k=2, filter_seen=False)
    np.testing.assert_array_equal(ids[0], [1, 2])
    ids, _ = model.recommend(["a"], k=2, filter_seen=False, exclude=[1])
    np.testing.assert_array_equal(ids[0], [2, 3])
    ids, _ = model.recommend(["a"], k=2, candidates=[4, 3, 2])
    np.testing.assert_array_equal(ids[0], [3, 4])


def test_unknown_user_gets_popular_items(tiny):
    ids, _ = Popularity().fit(tiny).recommend(["zz"], k=2)
    np.testing.assert_array_equal(ids[0], [1, 2])


def test_weights_and_labels_change_counts(tiny):
    model = Popularity().fit(tiny.assign(weight=[1, 1, 1, 1, 5, 1, 1]))
    assert model.item_counts_[0] == 7
    model = Popularity().fit(tiny.assign(label=[1, 1, 0, 1, 0, 1, 1]))
    np.testing.assert_array_equal(model.item_counts_, [1, 2, 1, 1])


def test_score_and_evaluate_by_hand(tiny):
    model = Popularity(k=2).fit(tiny)
    test = pd.DataFrame({"user_id": ["a", "b"], "item_id": [3, 4], "timestamp": [9, 9]})
    # a: ranking [3, 4] -> hit at rank 1; b: ranking [2, 4] -> hit at rank 2
    expected = (1.0 + 1.0 / np.log2(3)) / 2
    assert model.score(test) == pytest.approx(expected)
    scores = evaluate(model, test, k=(1, 2))
    assert scores["recall@1"] == 0.5 and scores["recall@2"] == 1.0
    assert scores["ndcg@2"] == pytest.approx(expected)
    assert scores["mrr@2"] == pytest.approx(0.75)
    assert scores["coverage@2"] == pytest.approx(3 / 4)  # items 3, 4, 2 of 4
    assert make_ranking_scorer("recall", 1)(model, test) == 0.5
    # a test item never seen in fit counts as a miss, not an error
    unseen = pd.DataFrame({"user_id": ["a"], "item_id": [99], "timestamp": [9]})
    assert model.score(unseen) == 0.0


def test_ml100k_leave_last_out_gridsearch_and_persistence(ml100k, tmp_path):
    train, test = leave_last_out_split(ml100k)
    assert len(test) == 943
    pipe = make_pipeline(FeatureSpec(), Popularity())
    search = GridSearchCV(pipe, {"featurespec__min_count": [1, 5]}, cv=LeaveLastOut())
    search.fit(train)
    assert set(search.cv_results_["params"][0]) == {"featurespec__min_count"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    model = Popularity().fit(train)
    scores = evaluate(model, test)
    assert scores["ndcg@10"] == pytest.approx(0.0449, abs=5e-4)  # the protocol's reference
    users = test["user_id"].to_numpy()[:50]
    ids, _ = model.recommend(users, k=10)
    assert ids.dtype.kind == "i"
    seen = train.groupby("user_id")["item_id"].apply(set)
    assert all(set(r).isdisjoint(seen[u]) for u, r in zip(users, ids, strict=True))
    for other in (
        pickle.loads(pickle.dumps(model)),
        clone(model).fit(train),
    ):
        np.testing.assert_array_equal(other.recommend(users, k=10)[0], ids)
    joblib.dump(model, tmp_path / "pop.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pop.joblib").recommend(users)[0], ids)


def test_each_unseen_test_item_is_a_relevant_miss():
    """Test items unseen in fit are misses, each its own relevant item, never merged."""
    train = pd.DataFrame(
        {"user_id": [1, 1, 2, 2, 2, 3, 3], "item_id": [10, 11, 12, 10, 13, 12, 11]}
    )
    train["timestamp"] = range(7)
    model = Popularity(k=3).fit(train)
    test = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [12, 98, 99], "timestamp": [7, 8, 9]})
    assert evaluate(model, test, k=3)["recall@3"] == pytest.approx(1 / 3)
    repeated = test.assign(item_id=[12, 98, 98])  # one unseen item, twice: one relevant
    assert evaluate(model, repeated, k=3)["recall@3"] == pytest.approx(1 / 2)
    inter = model.feature_spec_.transform(test)  # raw ids are gone: one item per row
    assert evaluate(model, inter, k=3)["recall@3"] == pytest.approx(1 / 3)


def test_held_out_rows_labelled_negative_are_not_relevant():
    train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 12, 10, 12]})
    train["timestamp"] = range(5)
    model = Popularity(k=3).fit(train)
    test = pd.DataFrame(
        {"user_id": [1, 1, 2], "item_id": [12, 13, 11], "label": [1, 0, 0], "timestamp": 9}
    )
    # user 1: one relevant item (12), recommended; user 2: negatives only, left out
    assert evaluate(model, test, k=3)["recall@3"] == 1.0
    assert evaluate(model, model.feature_spec_.transform(test), k=3)["recall@3"] == 1.0
    assert evaluate(model, test.assign(label=1), k=3)["recall@3"] == pytest.approx(0.75)
    for nothing, why in ((test.assign(label=0), "all 3 rows have 'label' <= 0"),
                         (test.iloc[:0], "X has no rows")):  # fmt: skip
        with pytest.raises(DataError, match=f"Nothing to evaluate: {why}"):
            model.score(nothing)
        with pytest.raises(DataError, match="Nothing to evaluate"):
            evaluate(model, nothing, k=3)
