"""How evaluation and queries see users: new users (all code 1) are never merged into one
user, and metrics rank the whole catalogue exactly, whatever index serves ``recommend``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.metrics import evaluate, ndcg_at_k
from skmatch.model_selection import leave_last_out_split
from skmatch.models import Popularity, YoutubeDNN


@pytest.fixture(scope="module")
def data():
    df = make_interactions(n_users=120, n_items=60, random_state=3)
    train, test = leave_last_out_split(df)
    model = YoutubeDNN(embed_dim=8, n_epochs=2, random_state=0, device="cpu").fit(train)
    return df, train, test, model


def _new_rows(test: pd.DataFrame, names) -> pd.DataFrame:
    """Test rows of the first len(names) users, relabelled as users never seen."""
    rows = test.groupby("user_id").head(1).iloc[: len(names)].copy()
    rows["user_id"] = names
    return rows


def test_evaluate_ranks_each_new_user_apart_and_warns(data):
    _, _, test, model = data
    new = _new_rows(test, ["new-a", "new-b", "new-c"])
    known = test[~test["user_id"].isin(new["user_id"])]
    mixed = pd.concat([known, new], ignore_index=True)
    with pytest.warns(UserWarning, match=r"3 of \d+ users of X were not seen in fit.*new-a"):
        got = evaluate(model, mixed, k=10)["ndcg@10"]
    # by hand: the known users as before, each new user from an empty history
    ref_known = evaluate(model, known, k=10)["ndcg@10"]
    ids = model.recommend(list(new["user_id"]), k=10, return_scores=False)
    ref_new = ndcg_at_k(new["item_id"].to_numpy(), ids, 10)
    n_known = known["user_id"].nunique()
    expected = (ref_known * n_known + ref_new * len(new)) / (n_known + len(new))
    assert got == pytest.approx(expected, rel=1e-6)


def test_new_users_are_ranked_from_an_empty_history(data):
    _, _, test, model = data
    new = _new_rows(test, ["x1", "x2"])
    ids = model.recommend(["x1", "x2"], k=10, return_scores=False)
    assert np.array_equal(ids[0], ids[1])  # no history, no features: the same list
    # the score of X with new users does not depend on how many others are new
    with pytest.warns(UserWarning):
        one = model.score(new.iloc[:1])
    with pytest.warns(UserWarning):
        two = model.score(pd.concat([new.iloc[:1], new.iloc[:1].assign(user_id="x9")]))
    assert one == pytest.approx(two)


def test_pipeline_keeps_new_users_apart(data):
    _, train, test, _ = data
    pipe = make_pipeline(
        FeatureSpec(max_seq_len=10),
        YoutubeDNN(embed_dim=8, n_epochs=2, random_state=0, device="cpu"),
    ).fit(train)
    model = pipe[-1]
    a = train[train["user_id"] == train["user_id"].iloc[0]].assign(user_id="fresh-1")
    b = train[train["user_id"] == train["user_id"].iloc[-1]].assign(user_id="fresh-2")
    new = pd.concat([a, b], ignore_index=True)
    # one row per new user, each embedded from its own rows, as the DataFrame path does
    piped = pipe.predict(new)
    assert piped.shape == (2, model.k)
    direct = model.recommend(new, k=model.k, return_scores=False)
    assert np.array_equal(piped, direct)
    vectors = pipe.transform(new)
    assert vectors.shape[0] == 2 and not np.allclose(vectors[0], vectors[1])
    np.testing.assert_allclose(vectors, model.transform_users(new), rtol=1e-6)
    # score through the pipeline (Interactions) equals the DataFrame path
    held = _new_rows(test, ["n1", "n2", "n3"])
    with pytest.warns(UserWarning, match="3 of 3 users"):
        piped_score = pipe.score(held)
    with pytest.warns(UserWarning, match="3 of 3 users"):
        direct_score = model.score(held)
    assert piped_score == pytest.approx(direct_score)


def test_users_below_min_count_are_new_users_not_one_merged_user():
    df = make_interactions(n_users=80, n_items=40, random_state=1)
    counts = df["user_id"].value_counts()
    spec = FeatureSpec(min_count=int(counts.median()))
    model = Popularity(feature_spec=spec).fit(df)
    users = df["user_id"].unique()
    rare = users[model.feature_spec_.encode_users(users) == 1]  # below min_count
    assert len(rare) >= 3
    # a rare user is outside the vocabulary: recommended to from an empty history, so
    # the items of the other rare users are not filtered out of its list
    ids = model.recommend([rare[0], rare[1]], k=5, return_scores=False)
    cold = model.recommend(["never-seen"], k=5, return_scores=False)
    assert np.array_equal(ids[0], cold[0]) and np.array_equal(ids[1], cold[0])
    inter = model.feature_spec_.transform(df[df["user_id"].isin(rare[:3])])
    assert inter.new_users is not None and len(inter.new_users) == 3
    assert len(np.unique(inter.user_keys())) == 3 and (inter.user_codes == 1).all()


def test_evaluate_and_score_rank_exactly_whatever_the_serving_index(data):
    """Metrics are full-ranking: an approximate (here: deliberately wrong) serving index
    changes ``recommend`` but never ``evaluate`` or ``score``."""
    from skmatch.index import ExactIndex
    from skmatch.index._base import BaseIndex

    class WorstFirst(BaseIndex):  # an "index" that returns the lowest scores
        def _fit(self, vectors):
            self._exact = ExactIndex().fit(-vectors)

        def _search(self, queries, k, excl):
            return self._exact.search(queries, k, exclude=excl)

    _, _, test, model = data
    exact_ndcg, exact_score = evaluate(model, test, k=10)["ndcg@10"], model.score(test)
    users = test["user_id"].unique()[:5]
    exact_ids = model.recommend(users, k=10, return_scores=False)
    serving = model.index_
    try:
        model.index_ = WorstFirst().fit(model.item_vectors_)
        assert not np.array_equal(model.recommend(users, k=10, return_scores=False), exact_ids)
        assert evaluate(model, test, k=10)["ndcg@10"] == exact_ndcg
        assert model.score(test) == exact_score
    finally:
        model.index_ = serving


def test_users_below_min_count_never_form_one_merged_training_sequence():
    df = make_interactions(n_users=80, n_items=40, random_state=1)
    spec = FeatureSpec(min_count=int(df["user_id"].value_counts().median()))
    inter = spec.fit_transform(df)
    rare_rows = np.flatnonzero(inter.user_codes == 1)
    assert rare_rows.size > 0
    assert inter.history.lengths(np.array([1]))[0] == 0  # no merged sequence under code 1
    assert not inter.histories(rare_rows).any()  # each such row: an empty history
    known = np.flatnonzero(inter.user_codes > 1)
    assert inter.histories(known).any()  # known users keep theirs


def test_history_frame_leaves_out_rows_labelled_negative():
    """As in training, a row whose label is <= 0 never enters a user's history."""
    train = pd.DataFrame(
        {"user_id": [1, 1, 2, 2, 3, 3], "item_id": [10, 11, 10, 12, 10, 11], "label": 1}
    )
    train["timestamp"] = range(6)
    model = Popularity().fit(train)
    hist = pd.DataFrame({"user_id": [9, 9], "item_id": [10, 11], "label": [1, 0]})
    hist["timestamp"] = [0, 1]
    from_frame = model.recommend(hist, k=3, return_scores=False)
    from_inter = model.recommend(model.feature_spec_.transform(hist), k=3, return_scores=False)
    np.testing.assert_array_equal(from_frame, from_inter)
    np.testing.assert_array_equal(from_frame, [[11, 12, -1]])  # only 10 was seen
