"""Multi-interest models: interest extraction, merged retrieval, diversity, planted interests."""

import os

import numpy as np
import pytest
import torch

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.features import N_RESERVED
from skmatch.metrics import recall_at_k
from skmatch.model_selection import leave_last_out_split
from skmatch.models import MIND, SINE, ComirecDR, ComirecSA, YoutubeDNN
from skmatch.models._diversity import category_distance, diversify
from skmatch.nn.interests import (
    CapsuleRouting,
    SelfAttentiveInterests,
    label_aware_attention,
    masked_softmax,
    squash,
)

DEVICE = os.environ.get("SKMATCH_TEST_DEVICE", "cpu")
FAST = dict(embed_dim=16, n_epochs=3, random_state=0, device=DEVICE)
MULTI = [MIND, ComirecDR, ComirecSA, SINE]
names = [c.__name__ for c in MULTI]


@pytest.fixture(scope="module")
def split(synthetic):
    return leave_last_out_split(synthetic)


@pytest.fixture(scope="module")
def fitted(split):
    spec = FeatureSpec(item_features=["category"])
    return {
        cls: cls(feature_spec=spec, category_feature="category", **FAST).fit(split[0])
        for cls in MULTI
    }


# ---------------------------------------------------------------- building blocks
def test_squash_keeps_direction_and_bounds_norm():
    z = torch.tensor([[3.0, 4.0], [0.03, 0.04], [0.0, 0.0]])
    out = squash(z)
    norms = out.norm(dim=-1)
    np.testing.assert_allclose(norms[:2], [25 / 26, 0.0025 / 1.0025], rtol=1e-5)
    np.testing.assert_allclose(out[0] / norms[0], z[0] / 5, rtol=1e-6)
    assert torch.isfinite(out).all() and (out[2] == 0).all()


def test_masked_softmax_ignores_masked_and_empty_rows():
    scores = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    mask = torch.tensor([[False, True, True], [False, False, False]])
    out = masked_softmax(scores, mask)
    np.testing.assert_allclose(out[0], torch.softmax(torch.tensor([-1e30, 2.0, 3.0]), 0))
    assert (out[1] == 0).all()


def test_label_aware_attention_limits():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    target = torch.tensor([[0.0, 2.0]])
    np.testing.assert_allclose(label_aware_attention(v, target, 0.0), v.mean(1))
    np.testing.assert_allclose(label_aware_attention(v, target, float("inf")), v[:, 2])
    active = torch.tensor([[True, True, False]])  # the best interest is inactive
    np.testing.assert_allclose(label_aware_attention(v, target, float("inf"), active), v[:, 1])
    soft = label_aware_attention(v, target, 0.0, active)
    np.testing.assert_allclose(soft, v[:, :2].mean(1))


@pytest.mark.parametrize("bilinear", ["shared", "per_position"])
@torch.no_grad()
def test_routing_ignores_left_padding(bilinear):
    torch.manual_seed(0)
    routing = CapsuleRouting(8, 3, 10, 3, bilinear)
    x = torch.randn(2, 6, 8)
    mask = torch.tensor([[False, False, True, True, True, True], [True] * 6])
    padded = torch.cat([torch.randn(2, 4, 8), x], 1)  # 4 more padding columns, any values
    pmask = torch.cat([torch.zeros(2, 4, dtype=torch.bool), mask], 1)
    np.testing.assert_allclose(routing(x, mask), routing(padded, pmask), atol=1e-6)
    assert routing(x, mask).shape == (2, 3, 8)
    assert (routing(x, mask).norm(dim=-1) < 1).all()  # squashed capsules


@torch.no_grad()
def test_self_attentive_interests_are_convex_combinations_of_the_history():
    torch.manual_seed(0)
    extract = SelfAttentiveInterests(4, 2, 5, 8)
    x = torch.randn(1, 3, 4)
    mask = torch.tensor([[False, True, True]])
    out = extract(x, mask)
    # weights on the two real items only: out lies in their span, not the padding's
    basis = x[0, 1:].T  # [4, 2]
    coef = torch.linalg.lstsq(basis, out[0].T).solution
    np.testing.assert_allclose(basis @ coef, out[0].T, atol=1e-5)
    np.testing.assert_allclose(coef.sum(0), [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("reuse", [False, True])
def test_self_attentive_scores_equal_the_two_layers_with_gradients(reuse):
    import contextlib

    from skmatch.nn import scratch

    torch.manual_seed(0)
    extract = SelfAttentiveInterests(4, 3, 6, 8).double()
    x = torch.randn(5, 6, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(5, 6) > 0.3
    mask[:, -1] = True
    y = x + extract.positions
    scores = extract.w2(torch.tanh(extract.w1(y))).transpose(1, 2)  # written out
    plain = masked_softmax(scores, mask.unsqueeze(1), dim=-1) @ x
    inputs = (x, *extract.parameters())
    expected = torch.autograd.grad(plain.pow(2).sum(), inputs)
    with scratch.reuse() if reuse else contextlib.nullcontext():  # as inside a fit
        ours = extract(x, mask)
        torch.testing.assert_close(ours, plain)
        for _ in range(2):  # a backward leaves the saved hidden layer as it was
            got = torch.autograd.grad(ours.pow(2).sum(), inputs, retain_graph=True)
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- the estimators
@pytest.mark.parametrize("cls", MULTI, ids=names)
def test_transform_users_has_one_vector_per_interest(cls, fitted):
    est = fitted[cls]
    out = est.transform_users(["u0", "u1", "u2"])
    assert out.shape == (3, est.n_interests, 16) and out.dtype == np.float32
    assert np.isfinite(out).all()


@pytest.mark.parametrize("cls", MULTI, ids=names)
def test_recommend_is_the_best_interest_score_over_unseen_items(cls, fitted, split):
    est = fitted[cls]
    users = ["u0", "u4", "u9"]
    ids, scores = est.recommend(users, k=12)
    vectors = est.transform_users(users).astype(np.float64)  # [n, K, D]
    items = est.transform_items().astype(np.float64)
    best = (vectors @ items.T).max(1)  # [n, n_items]
    train = split[0]
    for row, user in enumerate(users):
        seen = est.feature_spec_.encode_items(train.loc[train.user_id == user, "item_id"])
        best[row, seen - N_RESERVED] = -np.inf
        order = np.argsort(-best[row], kind="stable")[:12]
        expect = est.feature_spec_.inverse_transform_items(order + N_RESERVED)
        np.testing.assert_array_equal(ids[row], expect)
        np.testing.assert_allclose(scores[row], best[row, order], rtol=1e-5, atol=1e-6)
        assert len(set(ids[row])) == 12


def test_mind_has_fewer_interests_for_short_histories(split):
    train = split[0]
    est = MIND(**FAST).fit(train)
    short = train[train.user_id == "u3"].head(3)  # floor(log2 3) = 1 interest
    v = est.transform_users(short)[0]
    np.testing.assert_array_equal(v, np.repeat(v[:1], est.n_interests, 0))
    long = train[train.user_id == "u3"].head(16)  # log2 16 = 4 interests
    v = est.transform_users(long)[0]
    assert not np.allclose(v[0], v[1])
    fixed = MIND(dynamic_interests=False, **FAST).fit(train)
    v = fixed.transform_users(short)[0]
    assert not np.allclose(v[0], v[1])


@pytest.mark.parametrize("cls", MULTI, ids=names)
def test_user_embedding_depends_on_history_order(cls, fitted, split):
    train = split[0]
    hist = train[train["user_id"] == "u3"].copy()
    reordered = hist.assign(timestamp=hist["timestamp"].to_numpy()[::-1])
    a = fitted[cls].transform_users(hist)
    b = fitted[cls].transform_users(reordered)
    assert not np.allclose(a, b, atol=1e-6)


# ---------------------------------------------------------------- diversity
def test_category_distance_is_one_minus_jaccard():
    a = np.array([[1, 2, 0], [3, 0, 0], [0, 0, 0]])
    b = np.array([[2, 4, 0], [3, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(category_distance(a, b), [1 - 1 / 3, 0.0, 0.0])
    np.testing.assert_allclose(category_distance(a[:2, :1], b[:2, :1]), [1.0, 0.0])


def _greedy_reference(pos, scores, k, cats, lam):
    chosen = []
    for _ in range(k):
        best, best_val = None, -np.inf
        for j, p in enumerate(pos):
            if p < 0 or j in chosen:
                continue
            val = scores[j] + lam * sum(
                category_distance(cats[p][None], cats[pos[c]][None])[0] for c in chosen
            )
            if val > best_val:
                best, best_val = j, val
        if best is None:
            break
        chosen.append(best)
    return [pos[j] for j in chosen]


def test_diversify_matches_the_greedy_objective():
    rng = np.random.default_rng(0)
    cats = rng.integers(1, 4, size=(30, 1))
    pos = np.stack([rng.permutation(30)[:12] for _ in range(5)])
    pos[0, -2:] = -1
    scores = np.sort(rng.normal(size=(5, 12)), axis=1)[:, ::-1].astype(np.float32)
    for lam in (0.0, 0.5, 5.0):
        out, _ = diversify(pos, scores, 6, cats, lam)
        for row in range(5):
            assert list(out[row]) == _greedy_reference(pos[row], scores[row], 6, cats, lam)
    out, _ = diversify(pos, scores, 6, cats, 100.0)
    assert all(len(set(cats[r, 0])) == len(r) for r in out[:, :3])  # 3 categories first


def _list_diversity(est, ids):
    cats = est._item_categories()
    pos = est.feature_spec_.encode_items(ids.ravel()).reshape(ids.shape) - N_RESERVED
    c = cats[pos]  # [n, k, W]
    d = category_distance(c[:, :, None], c[:, None, :])  # [n, k, k]
    k = ids.shape[1]
    return d.sum() / (len(ids) * k * (k - 1))


@pytest.mark.parametrize("cls", MULTI, ids=names)
def test_diversity_trades_score_for_category_diversity(cls, fitted):
    est = fitted[cls]
    users = [f"u{i}" for i in range(40)]
    plain_ids, plain_scores = est.recommend(users, k=10)
    try:
        est.set_params(diversity=1e6)
        div_ids, div_scores = est.recommend(users, k=10)
        est.set_params(diversity=0.0)
        np.testing.assert_array_equal(est.recommend(users, k=10)[0], plain_ids)
    finally:
        est.set_params(diversity=0.0)
    assert _list_diversity(est, div_ids) > _list_diversity(est, plain_ids)
    assert div_scores.sum() <= plain_scores.sum()


def test_diversity_needs_a_category_feature(split):
    with pytest.raises(ValueError, match="category_feature"):
        ComirecSA(diversity=0.1, **FAST).fit(split[0])
    with pytest.raises(ValueError, match="not an item feature"):
        ComirecSA(category_feature="genre", **FAST).fit(split[0])


# ---------------------------------------------------------------- planted interests
@pytest.fixture(scope="module")
def planted():
    """Users with 3-4 of 8 planted interests, switching between them often."""
    df = make_interactions(
        n_users=500,
        n_items=300,
        n_interests=8,
        interests_per_user=(3, 4),
        p_switch=0.3,
        random_state=0,
    )
    return leave_last_out_split(df)


def _recall20(est, test):
    targets, pos = est.rank_test(test, 20)
    return recall_at_k(targets, pos, 20)


@pytest.fixture(scope="module")
def youtube_recall(planted):
    train, test = planted
    return _recall20(YoutubeDNN(**{**FAST, "n_epochs": 10}).fit(train), test)


@pytest.mark.slow
@pytest.mark.parametrize("cls", MULTI, ids=names)
def test_multi_interest_beats_youtubednn_on_multi_interest_users(cls, planted, youtube_recall):
    train, test = planted
    est = cls(**{**FAST, "n_epochs": 10}).fit(train)
    ours = _recall20(est, test)
    assert ours > youtube_recall, (ours, youtube_recall)


def test_torch_rechub_names_are_aliases():
    assert MIND(interest_num=3).n_interests == 3
    assert ComirecSA(embedding_dim=8, n_epoch=2).get_params()["embed_dim"] == 8


@pytest.mark.parametrize(
    "bad",
    [dict(n_interests=0), dict(diversity=-1.0), dict(routing_iters=0), dict(pow_p=-1.0)],
)
def test_bad_multi_interest_params_raise_on_fit(bad, split):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MIND(**FAST, **bad).fit(split[0])


def test_sine_needs_as_many_concepts_as_interests(split):
    with pytest.raises(ValueError, match="n_concepts"):
        SINE(n_concepts=2, n_interests=4, **FAST).fit(split[0])


@torch.no_grad()
def test_routing_over_one_active_capsule_is_the_squashed_sum():
    torch.manual_seed(0)
    routing = CapsuleRouting(8, 4, 10, 3, "shared")
    x = torch.randn(2, 5, 8)
    mask = torch.ones(2, 5, dtype=torch.bool)
    active = torch.tensor([[True, False, False, False], [True, True, True, True]])
    out = routing(x, mask, active)
    np.testing.assert_allclose(out[0, 0], squash(routing.S(x[0]).sum(0)), rtol=1e-5)
    assert (out[0, 1:] == 0).all()  # inactive capsules take no share of the coupling
    np.testing.assert_allclose(out[1], routing(x[1:], mask[1:])[0], rtol=1e-5)


def test_sine_can_retrieve_with_the_aggregated_vector(split):
    train = split[0]
    est = SINE(retrieval="aggregated", **FAST).fit(train)
    assert est.transform_users(["u0", "u1"]).shape == (2, 16)
    ids, scores = est.recommend(["u0", "u1"], k=5)
    assert ids.shape == (2, 5) and (np.diff(scores, axis=1) <= 0).all()
    with pytest.raises(ValueError, match="retrieval"):
        SINE(retrieval="max", **FAST).fit(train)


def test_item_categories_are_distinct_per_item_and_ignore_oov(split):
    train = split[0].copy()
    train["tags"] = np.where(np.arange(len(train)) % 2, "a|a|b", "b|zz")
    est = ComirecSA(feature_spec=FeatureSpec(item_features=["tags"]), category_feature="tags",
                    **FAST).fit(train)  # fmt: skip
    cats = est._item_categories()
    for row in cats:
        real = row[row > 0]
        assert len(set(real)) == len(real) and (real >= N_RESERVED).all()
    d = category_distance(cats[:, None, :], cats[None, :, :])
    assert (d >= 0).all() and (d <= 1).all()


@pytest.mark.parametrize(
    "bad",
    [
        dict(hidden_dims=32),
        dict(hidden_dims=(32.5,)),
        dict(diversity=float("nan"), category_feature="category"),
        dict(diversity=float("inf"), category_feature="category"),
        dict(dynamic_interests="yes"),
        dict(pow_p=float("nan")),
    ],
)
def test_more_bad_mind_params(bad, split):
    spec = FeatureSpec(item_features=["category"])
    with pytest.raises(ValueError, match=next(iter(bad))):
        MIND(feature_spec=spec, **FAST, **bad).fit(split[0])


def test_refit_with_another_category_feature(split):
    train = split[0].assign(cat2=split[0]["category"])
    est = ComirecSA(
        feature_spec=FeatureSpec(item_features=["category"]), category_feature="category", **FAST
    ).fit(train)
    est.set_params(feature_spec=FeatureSpec(item_features=["cat2"]), category_feature="cat2")
    est.fit(train)  # validated against the new spec, not the previous fit's
    assert est.feature_spec_.item_features == ["cat2"]

@pytest.mark.slow

def test_sine_training_is_deterministic_with_several_threads():
    # many rows activating the same concepts: a threaded scatter of their gradients
    # (concepts[idx]) summed in a varying order once broke bit-for-bit reproducibility
    df = make_interactions(n_users=1500, n_items=300, random_state=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        fits = [
            SINE(embed_dim=64, n_epochs=1, batch_size=512, random_state=0, device="cpu").fit(df)
            for _ in range(2)
        ]
    finally:
        torch.set_num_threads(threads)
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    np.testing.assert_array_equal(fits[0].transform_items(), fits[1].transform_items())


def _sine_reference(mod, hist):
    """SINE's training vector written out as the paper's formulas (every projection over
    the ``B x L`` history slots, the intention sequence formed)."""
    mask = hist > 0
    x = mod.items(hist)
    a = masked_softmax(mod.pool_w2(torch.tanh(mod.pool_w1(x))).squeeze(-1), mask)
    top, idx = ((a.unsqueeze(-1) * x).sum(1) @ mod.concepts.T).topk(mod.n_interests, dim=1)
    cu = mod.concepts[idx] * torch.sigmoid(top).unsqueeze(-1)
    p_kt = torch.softmax(mod.ln_items(mod.assign(x)) @ mod.ln_concepts(cu).transpose(1, 2), -1)
    h = mod.att_w2(torch.tanh(mod.att_w1(x + mod.positions[-x.shape[1] :])))
    p_tk = masked_softmax(h, mask.unsqueeze(-1), dim=1)
    phi = mod.ln_interests((p_kt * p_tk).transpose(1, 2) @ x)
    xhat = p_kt @ cu
    b = masked_softmax(mod.agg_w2(torch.tanh(mod.agg_w1(xhat))).squeeze(-1), mask)
    intention = mod.ln_intention((b.unsqueeze(-1) * xhat).sum(1))
    e = torch.softmax((phi @ intention.unsqueeze(-1)).squeeze(-1) / mod.tau, dim=1)
    return (e.unsqueeze(-1) * phi).sum(1)


@pytest.mark.parametrize("training", [True, False])
def test_sine_projected_table_equals_the_written_out_formulas_with_gradients(training):
    from skmatch.models.multi_interest.sine import SINEModule
    from skmatch.nn.protocol import Batch

    torch.manual_seed(0)
    mod = SINEModule(30, 8, 3, 6, 12, 0.5, 0.1, aggregated=False).double().train(training)
    hist = torch.randint(1, 30, (7, 12))
    hist[0, :5] = 0  # left padding
    hist[1, :11] = 0
    # 84 history slots >= 30 codes: training takes the projected table, evaluation not
    # (float64: the two orders of summation then agree to the last digits)
    ours = mod.train_user(Batch(hist=hist), None)
    ref = _sine_reference(mod, hist)
    np.testing.assert_allclose(ours.detach(), ref.detach(), rtol=1e-10)
    g = torch.randn_like(ref)
    names, params = zip(*mod.named_parameters(), strict=True)
    ga = torch.autograd.grad((ours * g).sum(), params, allow_unused=True)
    gb = torch.autograd.grad((ref * g).sum(), params, allow_unused=True)
    for name, u, v in zip(names, ga, gb, strict=True):
        if v is None:
            continue
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-12, err_msg=name)
    assert (ga[names.index("items.weight")][0] == 0).all()  # the padding row stays zero


@pytest.mark.parametrize("cls", [*MULTI, YoutubeDNN], ids=[*names, "YoutubeDNN"])
def test_default_window_is_the_familys(cls, split):
    """feature_spec=None: the multi-interest models read the 20 most recent items,
    the others FeatureSpec's default; a grid over the spec starts from the same window,
    and a spec the user passes is used as given."""
    window = 20 if cls in MULTI else FeatureSpec().max_seq_len
    assert window != FeatureSpec().max_seq_len or cls not in MULTI
    small = split[0][split[0]["user_id"].isin([f"u{i}" for i in range(30)])]
    model = cls(**{**FAST, "n_epochs": 1}).fit(small)
    assert model.feature_spec is None and model.feature_spec_.max_seq_len == window
    assert cls().set_params(feature_spec__min_count=2).feature_spec.max_seq_len == window
    given = cls(feature_spec=FeatureSpec(), **{**FAST, "n_epochs": 1}).fit(small)
    assert given.feature_spec_.max_seq_len == FeatureSpec().max_seq_len
