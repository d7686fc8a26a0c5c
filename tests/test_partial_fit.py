"""partial_fit: new interactions, users and items on top of a fitted model."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import Popularity, YoutubeDNN, all_estimators

NEURAL = all_estimators("neural")
FAST = dict(embed_dim=16, n_epochs=2, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def parts():
    """Old interactions, then new ones: later events, a new user, items never seen before."""
    df = make_interactions(n_users=150, n_items=100, random_state=4)
    late = df["timestamp"] > df["timestamp"].quantile(0.8)
    fresh_items = {"i3", "i17", "i42"}  # these appear only among the new events
    old = df[~late & ~df["item_id"].isin(fresh_items)]
    new = df[late]
    newcomer = new.iloc[:6].assign(user_id="brand-new user")
    return old, pd.concat([new, newcomer], ignore_index=True), fresh_items


@pytest.mark.parametrize("cls", NEURAL, ids=lambda c: c.__name__)
def test_partial_fit_adds_users_and_items_and_keeps_codes(cls, parts):
    old, new, fresh = parts
    est = cls(**FAST).fit(old)
    known_items = est.feature_spec_.items_.categories.to_numpy()
    codes = est.feature_spec_.encode_items(known_items)
    n_iter, curve = est.n_iter_, list(est.loss_curve_)
    assert est.partial_fit(new) is est
    spec = est.feature_spec_
    assert fresh <= set(spec.items_.categories) and "brand-new user" in set(spec.users_.categories)
    np.testing.assert_array_equal(spec.encode_items(known_items), codes)  # codes kept
    assert est.n_items_ == len(known_items) + len(fresh)
    assert est.n_iter_ == n_iter + 1 and est.loss_curve_[:-1] == curve
    assert np.isfinite(est.loss_curve_[-1])
    ids, scores = est.recommend(["brand-new user", "u0"], k=est.n_items_ // 2)
    assert np.isfinite(scores[scores > -np.inf]).all()
    assert set(ids[scores > -np.inf]) <= set(spec.items_.categories)
    assert est.transform_items(sorted(fresh)).shape[0] == len(fresh)
    assert est.similar_items(["i3"], k=5)[0].shape == (1, 5)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.recommend(["u0"], k=5)[0], est.recommend(["u0"], k=5)[0])


def test_partial_fit_learns_the_new_items():
    df = make_interactions(n_users=300, n_items=100, random_state=5)
    late = df["timestamp"] > df["timestamp"].quantile(0.7)
    fresh = list(df[late]["item_id"].value_counts().index[:8])  # popular, and only late
    old, new = df[~late & ~df["item_id"].isin(fresh)], df[late]
    new_train, new_test = leave_last_out_split(new)
    stale = YoutubeDNN(embed_dim=16, n_epochs=10, random_state=0, device="cpu").fit(old)
    users = new_test["user_id"].unique()
    assert not np.isin(stale.recommend(users, k=10, return_scores=False), fresh).any()
    updated = pickle.loads(pickle.dumps(stale)).partial_fit(new_train)
    shown = np.isin(updated.recommend(users, k=10, return_scores=False), fresh).mean()
    assert shown > 0.01  # the new items are learned and recommended
    ndcg = evaluate(updated, new_test, k=10)["ndcg@10"]
    assert ndcg > 5 * evaluate(Popularity().fit(new_train), new_test, k=10)["ndcg@10"]


def test_popularity_partial_fit_equals_fit_on_everything(parts):
    old, new, _ = parts
    both = Popularity().fit(old).partial_fit(new)
    whole = Popularity().fit(pd.concat([old, new]))
    counts = dict(zip(whole.feature_spec_.items_.categories, whole.item_counts_, strict=True))
    mine = dict(zip(both.feature_spec_.items_.categories, both.item_counts_, strict=True))
    assert mine == counts


def test_partial_fit_before_fit_is_fit(parts):
    old, _, _ = parts
    a = YoutubeDNN(**FAST).partial_fit(old)
    b = YoutubeDNN(**FAST).fit(old)
    np.testing.assert_array_equal(a.transform_items(), b.transform_items())


def test_new_ids_with_side_features_grow_the_tables_and_vocabularies(parts):
    """partial_fit takes new users and items with side features: their feature values
    (new ones too) join the spec, every known code and table row keeps its meaning."""
    old, new, _ = parts
    spec = FeatureSpec(user_features=["segment"], item_features=["category"])
    est = YoutubeDNN(feature_spec=spec, **FAST).fit(old)
    before = est.feature_spec_
    new = new.copy()
    fresh_items = set(new["item_id"]) - set(old["item_id"])
    first = new["item_id"].isin(sorted(fresh_items)[:1])
    new.loc[first, "category"] = "a-new-category"
    est.partial_fit(new)
    after = est.feature_spec_
    n_old = len(before.items_)
    np.testing.assert_array_equal(after.item_table_["category"][:n_old],
                                  before.item_table_["category"])  # fmt: skip
    assert "a-new-category" in set(after.vocabularies_["category"].categories)
    codes = after.encode_items(sorted(fresh_items))
    cats = after.vocabularies_["category"].decode(after.item_table_["category"][codes])
    by_item = new.drop_duplicates("item_id", keep="last").set_index("item_id")["category"]
    assert list(cats) == list(by_item.loc[sorted(fresh_items)])  # each new item's latest row
    assert est.recommend(new["user_id"].unique()[:3], k=5)[0].shape == (3, 5)
    with pytest.raises(ValueError, match="missing"):
        est.partial_fit(new.assign(item_id=None))
    with pytest.raises(ValueError, match="'category'"):
        est.partial_fit(new.drop(columns="category"))


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("SASRec", {"n_layers": 1}),
        ("SASRec", {"n_layers": 3}),
        ("DSSM", {"hidden_dims": ()}),
        ("DSSM", {"embed_dim": 8}),
        ("MIND", {"n_interests": 2}),
    ],
)
def test_partial_fit_refuses_a_changed_architecture_and_changes_nothing(name, change, parts):
    old, new, _ = parts
    est = {c.__name__: c for c in NEURAL}[name](**FAST).fit(old)
    before = est.n_items_, est.history_.items.size, est.item_vectors_.copy()
    with pytest.raises(ValueError, match="architecture has changed since fit"):
        est.set_params(**change).partial_fit(new)
    assert (est.n_items_, est.history_.items.size) == before[:2]
    np.testing.assert_array_equal(est.item_vectors_, before[2])


def test_partial_fit_keeps_the_validation_scores_of_fit(parts):
    """partial_fit holds nothing out: validation_scores_ stays fit's, one per fit epoch."""
    old, new, _ = parts
    est = YoutubeDNN(**{**FAST, "early_stopping": True, "n_epochs": 3}).fit(old)
    scores = list(est.validation_scores_)
    assert len(scores) == est.n_iter_ == len(est.loss_curve_)
    est.partial_fit(new)
    assert est.validation_scores_ == scores and len(est.loss_curve_) == len(scores) + 1
