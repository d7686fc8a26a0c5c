"""The training engine and the two-tower family beyond the common contract."""

import os

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skmatch import FeatureSpec
from skmatch.metrics import evaluate
from skmatch.model_selection import LeaveLastOut, leave_last_out_split
from skmatch.models import DSSM, Popularity, YoutubeDNN, YoutubeSBC

# SKMATCH_TEST_DEVICE=cuda runs the suite on a GPU (CI has none)
DEVICE = os.environ.get("SKMATCH_TEST_DEVICE", "cpu")
FAST = dict(embed_dim=16, n_epochs=2, batch_size=128, random_state=0, device=DEVICE)


@pytest.fixture(scope="module")
def split(synthetic):
    return leave_last_out_split(synthetic)


def test_global_rng_untouched(split):
    torch.manual_seed(123)
    np.random.seed(5)
    before_t, before_np = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(5)
    DSSM(**FAST).fit(split[0])
    assert torch.rand(1) == before_t and np.random.rand() == before_np


def test_different_seeds_differ(split):
    a = DSSM(**FAST).fit(split[0]).transform_items()
    b = DSSM(**{**FAST, "random_state": 1}).fit(split[0]).transform_items()
    assert not np.allclose(a, b)


def test_early_stopping_restores_best_and_records_scores(split):
    model = YoutubeDNN(**{**FAST, "n_epochs": 6, "early_stopping": True, "n_iter_no_change": 2})
    model.fit(split[0])
    assert len(model.validation_scores_) == model.n_iter_ == len(model.loss_curve_)
    assert model.best_epoch_ == int(np.argmax(model.validation_scores_)) + 1


def test_early_stopping_holds_out_no_user_below_min_count(split):
    from skmatch import FeatureSpec
    from skmatch.features import OOV
    from skmatch.training import holdout_last

    train = split[0]
    spec = FeatureSpec(min_count=35).fit(train)  # a good share of users fall below it
    inter = spec.transform(train)
    n_rare = np.unique(train["user_id"][inter.user_codes == OOV]).size
    assert n_rare >= 10
    kept, val_users, _ = holdout_last(inter)
    assert holdout_last(inter.subset(np.arange(1))) is None  # one event: nothing to hold out
    assert OOV not in set(val_users.tolist())  # no merged "user" of all the rare ones
    assert (kept.user_codes == OOV).sum() == (inter.user_codes == OOV).sum()
    assert val_users.size == np.unique(inter.user_codes[inter.user_codes != OOV]).size


def test_the_hold_out_takes_only_the_users_it_validates(split, monkeypatch):
    from skmatch.features import OOV
    from skmatch.models import neural
    from skmatch.training import holdout_last

    inter = FeatureSpec().fit(split[0]).transform(split[0])
    n_users = np.unique(inter.user_codes[inter.user_codes != OOV]).size
    kept, users, targets = holdout_last(inter, max_users=25)
    assert users.size == targets.size == 25 and np.unique(users).size == 25
    assert len(kept) == len(inter) - 25  # every other user keeps all of its events
    spread = np.diff(np.sort(users))  # evenly spaced over the user codes, not the first 25
    assert spread.min() >= n_users // 25 - 1
    assert holdout_last(inter, max_users=10 * n_users)[1].size == n_users
    # the fit holds out as many users as validation ranks, no more
    monkeypatch.setattr(neural, "_MAX_VALIDATION_USERS", 25)
    seen = []
    original = neural.TorchMatcher._train_module

    def spy(self, inter_, *args, **kwargs):
        seen.append(len(inter_))
        return original(self, inter_, *args, **kwargs)

    monkeypatch.setattr(neural.TorchMatcher, "_train_module", spy)
    YoutubeDNN(**{**FAST, "early_stopping": True, "n_epochs": 1}).fit(split[0])
    assert seen == [len(inter) - 25]


def test_nan_loss_stops_with_a_clear_error(split):
    model = YoutubeDNN(**{**FAST, "learning_rate": 1e30, "temperature": 1e-30})
    with pytest.raises(FloatingPointError, match=r"epoch 1.*learning_rate"):
        model.fit(split[0])


@pytest.mark.parametrize("negatives", ["in_batch", "uniform", "popularity", "mixed", "hard"])
def test_every_negative_source_trains(negatives, split):
    model = DSSM(**{**FAST, "negatives": negatives, "n_negatives": 8, "n_epochs": 3})
    model.fit(split[0])
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_side_features_are_used(split):
    train = split[0]
    spec = FeatureSpec(user_features=["segment"], item_features=["category"])
    model = DSSM(**{**FAST, "feature_spec": spec}).fit(train)
    assert set(model.module_.items.features) == {"category"}
    assert set(model.module_.user_features.features) == {"segment"}
    # the item tower reads the category: items of one category end up closer together
    vecs = model.transform_items()
    cats = model.feature_spec_.item_table_["category"][2:]
    same = (cats[:, None] == cats[None, :]) & ~np.eye(len(cats), dtype=bool)
    sims = vecs @ vecs.T
    assert sims[same].mean() > sims[~same & ~np.eye(len(cats), dtype=bool)].mean()


def test_sbc_streaming_frequency_tracks_popularity(split):
    model = YoutubeSBC(**{**FAST, "batch_size": 100, "n_epochs": 3}).fit(split[0])
    counts = np.bincount(model.feature_spec_.encode_items(split[0]["item_id"]))
    gap = model._frequency.gap  # the streaming estimate the fit ended with
    popular, rare = np.argmax(counts), np.argmin(np.where(counts > 0, counts, 10**9))
    assert gap[popular] < gap[rare]  # popular items recur in fewer steps


def test_lr_schedule_and_clipping_run(split):
    model = DSSM(**{**FAST, "lr_schedule": "cosine", "clip_grad_norm": 1.0}).fit(split[0])
    assert np.isfinite(model.loss_curve_).all()


@pytest.mark.slow
def test_dssm_pipeline_gridsearch_on_ml100k(ml100k):
    train, test = leave_last_out_split(ml100k)
    pipe = make_pipeline(
        FeatureSpec(user_features=["gender", "age", "occupation"], item_features=["genres"]),
        DSSM(n_epochs=2, batch_size=512, random_state=0),
    )
    grid = {"dssm__embed_dim": [16, 32], "dssm__temperature": [0.05, 0.2]}
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut()).fit(train)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best[-1].feature_spec_.feature_kinds_["genres"] == "multi"
    base = evaluate(Popularity().fit(train), test)["ndcg@10"]
    assert evaluate(best, test)["ndcg@10"] > base


def test_hnsw_index_behind_recommend_matches_exact(split):
    train = split[0]
    exact = DSSM(**{**FAST, "index": "exact"}).fit(train)
    approx = DSSM(**{**FAST, "index": "hnsw", "index_params": {"ef": 64}}).fit(train)
    assert type(approx.index_).__name__ == "HNSWIndex"
    users = train["user_id"].unique()[:50]
    a = exact.recommend(users, k=10, return_scores=False)
    b = approx.recommend(users, k=10, return_scores=False)
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)])
    assert overlap >= 0.9
    seen = train.groupby("user_id")["item_id"].apply(set)
    assert all(set(r).isdisjoint(seen[u]) for u, r in zip(users, b, strict=True))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_in_batch_softmax_equals_the_general_listwise_loss(weighted, temperature):
    """The [B, B] cross-entropy shortcut gives the loss and gradients of the general path:
    positive against the other rows' positives, logQ-corrected, duplicates masked."""
    from skmatch.nn.losses import listwise_loss
    from skmatch.training import Objective

    g = torch.Generator().manual_seed(0)
    log_freq = torch.log(torch.rand(10, generator=g, dtype=torch.float64))
    est = Objective(mode="listwise", negatives="in_batch", n_negatives=1,
                    temperature=temperature, logq_correction=True, embedding_l2=0.0,
                    counts=np.ones(10), log_q=lambda codes: log_freq[codes])  # fmt: skip
    pos = torch.tensor([2, 3, 3, 5, 2, 7, 9])  # items 2 and 3 twice: duplicates to mask
    user = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    vecs = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(7, generator=g, dtype=torch.float64) if weighted else None
    fast = est.in_batch_softmax(user, pos, vecs, weight)
    log_q = log_freq[pos]
    pos_logit = (user * vecs).sum(-1) / temperature - log_q
    neg_logit = user @ vecs.T / temperature - log_q
    ref = listwise_loss(pos_logit, neg_logit, pos.unsqueeze(0) != pos.unsqueeze(1), weight)
    torch.testing.assert_close(fast, ref)
    grads = torch.autograd.grad(fast, (user, vecs)), torch.autograd.grad(ref, (user, vecs))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
