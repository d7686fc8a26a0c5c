"""The contract every estimator keeps, run over all of them (Popularity included)."""

from __future__ import annotations

import os
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.exceptions import DataError, NotFittedError, UnknownIdError
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import DSSM, GRU4Rec, SASRec, YoutubeDNN, YoutubeSBC, all_estimators

# SKMATCH_TEST_DEVICE=cuda runs the suite on a GPU (CI has none)
DEVICE = os.environ.get("SKMATCH_TEST_DEVICE", "cpu")
# CPU against CUDA: float32 rounding, and cuDNN's RNN kernels use TF32 (torch's default)
CROSS_DEVICE_TOL = {"rtol": 2e-3, "atol": 1e-5}
FAST = dict(embed_dim=16, n_epochs=2, batch_size=128, random_state=0, device=DEVICE)
# every estimator of the registry (skmatch.models.registry): a new model is tested here
# without touching this file
ALL = all_estimators()
NEURAL = all_estimators("neural")
Popularity = all_estimators("baseline")[0]


def windowed(cls) -> bool:
    """Trained on history windows by default: few (whole-sequence) steps per epoch."""
    return cls().get_params().get("train_positions") == "all"


def make(cls, **kwargs):
    if cls is Popularity:
        return Popularity(**kwargs)
    small = {"hidden_size": 16} if "hidden_size" in cls().get_params() else {}  # fast
    return cls(**{**FAST, **small, **kwargs})


ids = [c.__name__ for c in ALL]


@pytest.fixture(scope="module")
def split(synthetic):
    return leave_last_out_split(synthetic)


@pytest.fixture(scope="module")
def fitted(split):
    train, _ = split
    return {cls: make(cls).fit(train) for cls in ALL}


def _fitted_attrs(est):
    return [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_clone_params_and_no_fitted_attrs_before_fit(cls, fitted):
    est = make(cls)
    assert _fitted_attrs(est) == []
    params = est.get_params()
    est.set_params(**params)
    assert clone(est).get_params() == params
    fresh = clone(fitted[cls])
    assert _fitted_attrs(fresh) == []
    assert fresh.get_params() == fitted[cls].get_params()


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_fit_returns_self_and_unfitted_errors(cls, split):
    train, test = split
    est = make(cls)
    for call in (
        lambda: est.recommend(["u1"]),
        lambda: est.transform_users(["u1"]),
        lambda: est.transform_items(),
        lambda: est.similar_items(["i1"]),
        lambda: est.score(test),
        lambda: est.predict(["u1"]),
    ):
        with pytest.raises(NotFittedError):
            call()
    assert est.fit(train) is est


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_pickle_and_joblib_round_trips_are_identical(cls, fitted, tmp_path):
    est = fitted[cls]
    users = ["u0", "u5", "u17"]
    ids_, scores = est.recommend(users, k=10)
    again = pickle.loads(pickle.dumps(est))  # always unpickles onto the CPU
    np.testing.assert_array_equal(again.recommend(users, k=10)[0], ids_)
    if DEVICE == "cpu":
        np.testing.assert_array_equal(again.recommend(users, k=10)[1], scores)
    else:  # computed on another device (cuDNN's RNNs run in TF32 by default)
        np.testing.assert_allclose(again.recommend(users, k=10)[1], scores, **CROSS_DEVICE_TOL)
    joblib.dump(est, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.recommend(users, k=10)[0], ids_)
    if DEVICE == "cpu":
        np.testing.assert_array_equal(loaded.transform_users(users), est.transform_users(users))


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_same_seed_same_recommendations(cls, split, fitted):
    if DEVICE != "cpu":
        pytest.skip("determinism is promised on CPU; CUDA kernels use atomic adds")
    train, _ = split
    again = make(cls).fit(train)
    users = ["u0", "u3", "u9"]
    np.testing.assert_array_equal(again.recommend(users)[0], fitted[cls].recommend(users)[0])
    np.testing.assert_array_equal(again.transform_items(), fitted[cls].transform_items())


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_batched_equals_one_by_one_and_scores_sorted(cls, fitted):
    est = fitted[cls]
    users = [f"u{i}" for i in range(0, 60, 3)]
    ids_, scores = est.recommend(users, k=15)
    assert ids_.shape == scores.shape == (len(users), 15)
    assert scores.dtype == np.float32
    assert (np.diff(scores, axis=1) <= 0).all()
    for row, user in enumerate(users):
        one_ids, one_scores = est.recommend([user], k=15)
        np.testing.assert_array_equal(one_ids[0], ids_[row])
        np.testing.assert_array_equal(one_scores[0], scores[row])


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_recommend_returns_raw_ids_and_never_seen_items(cls, fitted, split):
    train, _ = split
    est = fitted[cls]
    users = train["user_id"].unique()[:40]
    ids_ = est.recommend(users, k=20, return_scores=False)
    seen = train.groupby("user_id")["item_id"].apply(set)
    for user, row in zip(users, ids_, strict=True):
        assert set(row).isdisjoint(seen[user])
        assert all(isinstance(i, str) for i in row)
    # exclude / candidates
    banned = ids_[:, 0]
    again = est.recommend(users, k=20, exclude=banned, return_scores=False)
    assert not np.isin(again, banned).any()
    cands = train["item_id"].unique()[:30]
    within = est.recommend(users[:5], k=5, candidates=cands, filter_seen=False)[0]
    assert np.isin(within, cands).all()


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_k_of_the_whole_catalogue_is_padded_and_more_is_refused(cls, fitted):
    est = fitted[cls]
    n = est.n_items_
    ids_, scores = est.recommend(["u0"], k=n)  # seen items filtered: fewer than n qualify
    assert ids_.shape == (1, n)
    assert ids_[0, -1] is None and scores[0, -1] == -np.inf
    for call in (lambda: est.recommend(["u0"], k=n + 1), lambda: est.similar_items(["i1"], n + 1),
                 lambda: est.recommend(["u0"], k=10**12)):  # fmt: skip
        with pytest.raises(ValueError, match=f"exceeds the {n} items"):
            call()
    n_seen = est.history_.lengths(est.feature_spec_.encode_users(["u0"]))[0]
    n_unique_seen = len(set(est.history_.take(est.feature_spec_.encode_users(["u0"])).items))
    assert n_seen >= n_unique_seen
    assert (scores[0] > -np.inf).sum() == n - n_unique_seen


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_bad_input_errors(cls, fitted, split):
    train, _ = split
    est = fitted[cls]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        est.recommend(["u0"], k=0)
    with pytest.raises(TypeError, match="k must be"):
        est.recommend(["u0"], k=2.5)
    with pytest.raises(ValueError, match=r"filter_seen must be True or False, got 'no'"):
        est.recommend(["u0"], filter_seen="no")
    with pytest.raises(ValueError, match="return_scores must be True or False"):
        est.recommend(["u0"], return_scores=0)
    with pytest.raises(TypeError, match="DataFrame"):
        make(cls).fit(train.to_numpy())
    with pytest.raises(DataError, match="empty"):
        make(cls).fit(train.iloc[:0])
    with pytest.raises(DataError, match="'item_id'"):
        make(cls).fit(train.drop(columns="item_id"))
    bad = train.copy()
    bad.loc[bad.index[:3], "user_id"] = None
    with pytest.raises(DataError, match=r"'user_id' has 3 missing"):
        make(cls).fit(bad)
    strict = make(cls, feature_spec=FeatureSpec(handle_unknown="error")).fit(train)
    with pytest.raises(UnknownIdError, match=r"'user_id'.*'nobody'"):
        strict.recommend(["u0", "nobody"])
    with pytest.raises(TypeError, match="users must be an array-like"):
        est.recommend("u0")
    with pytest.raises(UnknownIdError, match="items"):
        est.similar_items(["not-an-item"])


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_new_users_from_history_frame(cls, fitted, split):
    train, _ = split
    est = fitted[cls]
    hist = train[train["user_id"] == "u7"].assign(user_id="brand-new")
    new_ids, new_scores = est.recommend(hist, k=10)
    old_ids, old_scores = est.recommend(["u7"], k=10)
    np.testing.assert_array_equal(new_ids, old_ids)
    np.testing.assert_allclose(new_scores, old_scores, rtol=1e-6)
    assert est.transform_users(hist).shape[0] == 1


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_similar_items_and_transform_items(cls, fitted):
    est = fitted[cls]
    items = est.feature_spec_.inverse_transform_items(np.arange(2, 7))
    sim, _scores = est.similar_items(items, k=5)
    assert sim.shape == (5, 5)
    assert not (sim == items[:, None]).any()
    assert est.transform_items().shape[0] == est.n_items_
    assert est.transform_items(items[:2]).shape[0] == 2


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL, ids=[c.__name__ for c in NEURAL])
@pytest.mark.parametrize("mode", ["pointwise", "pairwise", "listwise"])
def test_all_modes_train(cls, mode, split):
    train, _ = split
    negatives = "in_batch" if cls is YoutubeSBC else "mixed"
    epochs = 8 if windowed(cls) else 3
    est = make(cls, mode=mode, negatives=negatives, n_epochs=epochs).fit(train)
    assert len(est.loss_curve_) == epochs and np.isfinite(est.loss_curve_).all()
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL, ids=[c.__name__ for c in NEURAL])
def test_learns_better_than_popularity(cls, split, fitted):
    train, test = split
    base = evaluate(fitted[Popularity], test, k=10)["ndcg@10"]
    # window-trained models take few (but whole-sequence) steps per epoch
    epochs = 40 if windowed(cls) else 8  # a fixed budget (the defaults: test_defaults.py)
    est = make(cls, embed_dim=32, n_epochs=epochs, early_stopping=False).fit(train)
    ours = evaluate(est, test, k=10)["ndcg@10"]
    assert ours >= 1.5 * base, (ours, base)


def test_predict_and_transform_shapes(fitted, split):
    _train, test = split
    est = fitted[DSSM]
    assert est.transform(["u0", "u1"]).shape == (2, 16)
    assert est.predict(test.head(5)).shape[1] == est.k
    assert isinstance(est.score(test), float)


def test_unknown_params_and_aliases():
    with pytest.raises(TypeError, match="unexpected parameter"):
        DSSM(n_epocs=3)
    assert DSSM(n_epoch=7).n_epochs == 7
    with pytest.raises(TypeError, match="either"):
        DSSM(n_epoch=7, n_epochs=3)


@pytest.mark.parametrize(
    "bad",
    [
        dict(mode="nope"),
        dict(negatives="x"),
        dict(embed_dim=0),
        dict(temperature=0),
        dict(batch_size=1),
        dict(device="tpu"),
        dict(amp="bf16"),
        dict(amp=1),
        dict(hidden_dims=128),
        dict(hidden_dims=("64",)),
        dict(hidden_dims=(64.5,)),
        dict(hidden_dims=(0,)),
        dict(early_stopping="no"),
        dict(logq_correction=1),
        dict(random_state=-1),
        dict(random_state="a"),
        dict(random_state=1.5),
    ],
)
def test_bad_params_raise_on_fit(bad, split):
    with pytest.raises(ValueError, match=next(iter(bad))):
        make(DSSM, **bad).fit(split[0])


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_nested_feature_spec_params_reach_a_default_spec(cls, split):
    est = make(cls).set_params(feature_spec__max_seq_len=7, feature_spec__min_count=1)
    assert est.feature_spec.get_params()["max_seq_len"] == 7
    other = make(cls).set_params(feature_spec__max_seq_len=9)
    assert other.feature_spec is not est.feature_spec  # a fresh spec each, never shared
    assert est.feature_spec.max_seq_len == 7 and FeatureSpec().max_seq_len != 7
    assert clone(est).get_params()["feature_spec__max_seq_len"] == 7
    given = FeatureSpec(max_seq_len=5)
    assert make(cls, feature_spec=given).set_params(feature_spec__min_count=2).feature_spec is given
    assert given.min_count == 2
    if cls is SASRec:  # the tuned window is the one fitted
        est.set_params(n_epochs=1).fit(split[0])
        assert est.feature_spec_.max_seq_len == 7


@pytest.fixture(scope="module")
def labelled():
    """Positives of the synthetic data (label 1) and as many random items (label 0)."""
    df = make_interactions(n_users=120, n_items=80, random_state=1)
    rng = np.random.default_rng(0)
    neg = df.assign(item_id=rng.choice(df["item_id"].unique(), len(df)))
    neg["timestamp"] = neg["timestamp"] + 0.5
    return pd.concat([df.assign(label=1.0), neg.assign(label=0.0)], ignore_index=True)


def _auc_of_pairs(est, frame) -> float:
    """How often the model scores a labelled positive above a labelled negative."""
    users = frame["user_id"].unique()
    row = pd.Series(np.arange(users.size), index=users)[frame["user_id"]].to_numpy()
    u, v = est.transform_users(users)[row], est.transform_items(frame["item_id"].to_numpy())
    s = (u * v[:, None, :]).sum(-1).max(1) if u.ndim == 3 else (u * v).sum(-1)
    pos, neg = s[frame["label"].to_numpy() > 0], s[frame["label"].to_numpy() <= 0]
    return float((pos[:, None] > neg[None, :]).mean())


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL, ids=[c.__name__ for c in NEURAL])
def test_pointwise_learns_from_labelled_negatives(cls, labelled):
    kw = dict(mode="pointwise", n_epochs=4, early_stopping=False)
    if windowed(cls):  # windows hold positives only: train on the rows
        kw["train_positions"] = "last"
    auc = _auc_of_pairs(make(cls, **kw).fit(labelled), labelled)
    blind = _auc_of_pairs(make(cls, **kw).fit(labelled.assign(label=1.0)), labelled)
    assert auc >= 0.65 and auc >= blind + 0.05, (auc, blind)


def test_windows_warn_that_labelled_negatives_are_not_trained_on(labelled):
    with pytest.warns(UserWarning, match=r"the \d+ rows with 'label' <= 0 are not trained"):
        make(SASRec, n_epochs=1).fit(labelled)
    weighted = labelled[labelled["label"] > 0].assign(weight=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights are used by window training: no warning
        make(GRU4Rec, n_epochs=1).fit(weighted)


def test_index_params_are_checked_before_training_and_fit_either_index(split):
    est = make(DSSM, index_params={"ef": 64}).fit(split[0])  # auto: exact search here
    assert type(est.index_).__name__ == "ExactIndex"
    bad = make(DSSM, index_params={"eff": 64})
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['eff'\]"):
        bad.fit(split[0])
    assert not hasattr(bad, "loss_curve_")  # refused before any training


def test_random_state_may_be_a_generator(split):
    est = make(DSSM, n_epochs=1, random_state=np.random.default_rng(0)).fit(split[0])
    assert len(est.loss_curve_) == 1


def test_nothing_to_train_on_says_why_with_counts(split):
    one_each = pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": [1, 2, 3]})
    one_each["timestamp"] = [1, 2, 3]
    negatives_only = one_each.assign(item_id=[1, 2, 2], user_id="a", label=0.0)
    with pytest.raises(ValueError, match=r"none of the 3 rows has a positive 'label'"):
        with pytest.warns(UserWarning, match="not trained on"):  # windows: positives only
            make(SASRec).fit(negatives_only)
    two_each = pd.DataFrame({"user_id": list("aabb"), "item_id": [1, 2, 1, 2]})
    with pytest.raises(ValueError, match=r"more than 1 after early_stopping=True held out"):
        make(SASRec, early_stopping=True).fit(two_each)
    fitted = make(DSSM, n_epochs=1).fit(split[0])
    new = split[0].head(5).assign(label=0.0)
    with pytest.raises(ValueError, match=r"none of the 5 rows has a positive 'label'"):
        fitted.partial_fit(new)
    with pytest.raises(ValueError, match=r"SASRec.*at least 2 .*none of the 3 users .* than 1"):
        make(SASRec).fit(one_each)
    negatives = one_each.assign(label=0.0)
    with pytest.raises(ValueError, match=r"none of the 3 rows has a positive 'label'.*pointwise"):
        make(YoutubeDNN).fit(negatives)
    make(YoutubeDNN, mode="pointwise", n_epochs=1).fit(negatives)  # labelled negatives train


def test_frame_must_be_interactions_not_other_types(split):
    with pytest.raises(TypeError):
        make(DSSM).fit(pd.Series([1, 2, 3]))


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_save_load_without_pickle(cls, fitted, tmp_path):
    est = fitted[cls]
    users = ["u0", "u5", "u17"]
    path = tmp_path / "model.skm"
    est.save(path)
    loaded = cls.load(path)
    assert type(loaded) is cls and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.recommend(users)[0], est.recommend(users)[0])
    if DEVICE == "cpu":
        np.testing.assert_array_equal(loaded.recommend(users)[1], est.recommend(users)[1])
        np.testing.assert_array_equal(loaded.transform_users(users), est.transform_users(users))
    else:  # loaded onto the CPU, computed there
        np.testing.assert_allclose(
            loaded.recommend(users)[1], est.recommend(users)[1], **CROSS_DEVICE_TOL
        )
        np.testing.assert_allclose(
            loaded.transform_users(users), est.transform_users(users), **CROSS_DEVICE_TOL
        )
    # the file holds no pickled objects: a weights_only load succeeds
    import torch

    torch.load(path, weights_only=True)
