"""Losses, the negative sampler and the interest merge."""

import numpy as np
import pytest
import torch

from skmatch.models._merge import merge_interests
from skmatch.nn.losses import listwise_loss, pairwise_loss, pointwise_loss
from skmatch.nn.sampling import NegativeSampler

# the custom kernels' CUDA paths run where a GPU is (CI has none)
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


def test_listwise_loss_matches_cross_entropy_and_masks():
    pos = torch.tensor([2.0, 0.5])
    neg = torch.tensor([[1.0, 3.0], [0.0, -1.0]])
    valid = torch.tensor([[True, False], [True, True]])
    got = listwise_loss(pos, neg, valid)
    row0 = -torch.log_softmax(torch.tensor([2.0, 1.0]), 0)[0]
    row1 = -torch.log_softmax(torch.tensor([0.5, 0.0, -1.0]), 0)[0]
    assert got.item() == pytest.approx(((row0 + row1) / 2).item(), rel=1e-6)


def test_pairwise_and_pointwise_by_hand():
    pos = torch.tensor([1.0])
    neg = torch.tensor([[0.0, 5.0]])
    valid = torch.tensor([[True, False]])
    bpr = pairwise_loss(pos, neg, valid)
    assert bpr.item() == pytest.approx(-np.log(1 / (1 + np.exp(-1.0))), rel=1e-6)
    bce = pointwise_loss(pos, neg, valid)
    expected = np.log1p(np.exp(-1.0)) + np.log1p(np.exp(0.0))
    assert bce.item() == pytest.approx(expected, rel=1e-6)
    weighted = pairwise_loss(
        torch.tensor([1.0, 0.0]),
        torch.zeros(2, 1),
        torch.ones(2, 1, dtype=bool),
        weight=torch.tensor([1.0, 0.0]),
    )
    assert weighted.item() == pytest.approx(bpr.item(), rel=1e-6)


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
def test_sampler_never_returns_the_positive_and_is_seeded(kind):
    counts = np.array([0, 0, 100, 1, 1, 50])
    sampler = NegativeSampler(counts, kind)
    pos = np.array([2, 5, 3, 2])
    a = sampler.sample(np.random.default_rng(0), pos, 200)
    b = sampler.sample(np.random.default_rng(0), pos, 200)
    np.testing.assert_array_equal(a, b)
    assert (a != pos[:, None]).all()
    assert a.min() >= 2 and a.max() <= 5
    if kind == "popularity":
        draws = sampler._draw(np.random.default_rng(1), 20_000)
        share = np.bincount(draws, minlength=6)[2:] / draws.size
        np.testing.assert_allclose(share, sampler.prob, atol=0.02)
        assert sampler.prob[0] > sampler.prob[1]


def test_sampler_needs_two_items():
    with pytest.raises(ValueError, match="at least 2"):
        NegativeSampler(np.array([0, 0, 5]), "uniform")


def test_merge_interests_dedupes_and_keeps_best_score():
    pos = np.array([[5, 3, 7, 3, 9, -1]])
    scores = np.array([[0.9, 0.8, 0.1, 0.95, 0.8, -np.inf]], dtype=np.float32)
    out_p, out_s = merge_interests(pos, scores, 4)
    np.testing.assert_array_equal(out_p, [[3, 5, 9, 7]])
    np.testing.assert_allclose(out_s, [[0.95, 0.9, 0.8, 0.1]])
    out_p, out_s = merge_interests(pos, scores, 6)
    assert out_p[0, -1] == -1 and out_s[0, -1] == -np.inf


def test_dropout_is_inverted_dropout():
    from skmatch.nn.dropout import Dropout, keep_scale

    x = torch.full((200, 500), 3.0)
    drop = Dropout(0.3).train()
    torch.manual_seed(0)
    out = drop(x)
    zeros = (out == 0).float().mean().item()
    assert abs(zeros - 0.3) < 0.01  # each element dropped with probability p
    assert abs(keep_scale(0.3) - 1 / 0.7) < 1e-5  # 1 / P(kept) at 1/65536 resolution
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 3 * keep_scale(0.3)))
    torch.manual_seed(0)
    assert torch.equal(drop(x), out)  # torch's generator: seeded, reproducible
    assert drop.eval()(x) is x and Dropout(0.0).train()(x) is x
    x.requires_grad_(True)
    Dropout(0.5).train()(x).sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 2.0}


def test_keep_mask_lanes_are_independent_with_probability_p():
    from skmatch.nn.dropout import keep_mask, keep_scale

    x = torch.zeros(400_003)  # not a multiple of the four lanes of a 64-bit draw
    torch.manual_seed(0)
    keep = keep_mask(x, 0.2)
    assert keep.shape == x.shape and keep.dtype == torch.bool
    assert abs(keep.float().mean().item() - 0.8) < 0.003
    lanes = keep[:400_000].view(-1, 4).float()  # each 16-bit lane of a draw alone
    np.testing.assert_allclose(lanes.mean(0).numpy(), 0.8, atol=0.006)
    # neighbouring lanes of one draw are independent: P(both kept) = 0.8 ** 2
    assert abs((lanes[:, 0] * lanes[:, 3]).mean().item() - 0.64) < 0.006
    assert keep_mask(x[:1000], 0.0).all()
    # expectation preserved: the scale is 1 / P(kept) at the mask's 1/65536 resolution
    assert keep_scale(0.5) == 2.0 and keep_scale(0.0) == 1.0
    assert keep_scale(0.9999999) == 65536.0  # one lane value of 65536 still keeps
    kept = keep_mask(torch.zeros(4_000_000), 0.9999999).float().mean().item()
    assert 0 < kept < 5 / 65536


def _plain_additive(keys, query, w):
    return (torch.sigmoid(keys + query.unsqueeze(1)) * w).sum(-1)


def test_additive_scores_equal_the_plain_formula_with_gradients():
    from skmatch.nn.additive import additive_scores

    g = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
        for shape in ((3, 5, 4), (3, 4), (4,))
    ]
    assert torch.autograd.gradcheck(additive_scores, inputs)
    weights = torch.randn(3, 5, dtype=torch.float64, generator=g)
    ours = torch.autograd.grad((additive_scores(*inputs) * weights).sum(), inputs)
    plain = torch.autograd.grad((_plain_additive(*inputs) * weights).sum(), inputs)
    for a, b in zip(ours, plain, strict=True):
        torch.testing.assert_close(a, b)


def test_additive_scores_under_cpu_autocast_match_float32():
    from skmatch.nn.additive import additive_scores

    g = torch.Generator().manual_seed(1)
    keys, query, w = (torch.randn(*s, generator=g) for s in ((4, 6, 8), (4, 8), (8,)))
    lin = torch.nn.Linear(8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = additive_scores(lin(keys), query, w)  # bfloat16 keys, float32 query
    mixed.float().sum().backward()  # a bfloat16 gradient arrives: no dtype error
    torch.testing.assert_close(
        mixed.float(), _plain_additive(lin(keys), query, w), atol=0.05, rtol=0.02
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reuse", [False, True])
def test_bag_sum_equals_embedding_bag_with_padding_and_its_gradient(reuse, device):
    import contextlib

    import torch.nn.functional as F

    from skmatch.nn import scratch
    from skmatch.nn.bag import bag_sum

    g = torch.Generator().manual_seed(0)
    weight = torch.randn(9, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
    codes = torch.tensor([[0, 0, 4, 2], [3, 3, 3, 8], [0, 0, 0, 0], [0, 1, 5, 4]], device=device)
    grad = torch.randn(4, 3, generator=g, dtype=torch.float64).to(device)
    with scratch.reuse() if reuse else contextlib.nullcontext():
        for _ in range(2):  # the second step reuses the first one's scratch memory
            ours = bag_sum(codes, weight)
            # on CPU the custom backward, not torch's; on CUDA torch's masked bag
            assert ("BagSum" in type(ours.grad_fn).__name__) == (device == "cpu")
            (ours_grad,) = torch.autograd.grad(ours, weight, grad)
    ref = F.embedding_bag(codes, weight, mode="sum", padding_idx=0)
    (ref_grad,) = torch.autograd.grad(ref, weight, grad)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_grad, ref_grad)
    # row 0 is nonzero here: padding contributes nothing and gets no gradient all the same
    assert weight[0].abs().sum() > 0 and ours[2].abs().sum() == 0
    assert ours_grad[0].abs().sum() == 0 and ours_grad[3].equal(3 * grad[1])
    with torch.no_grad():  # inference: the plain masked bag, the same values
        torch.testing.assert_close(bag_sum(codes, weight), ref)


def test_scratch_buffers_are_reused_per_thread_only_inside_reuse():
    import threading

    from skmatch.nn import scratch

    like = torch.zeros(1)
    with scratch.reuse():
        a = scratch.buffer((4, 2), like)
        b = scratch.buffer((2, 3), like)  # smaller: a view of the same memory
        assert b.data_ptr() == a.data_ptr() and b.shape == (2, 3)
        c = scratch.buffer((10, 10), like)  # larger: grows
        assert c.shape == (10, 10) and scratch.buffer((5,), like).data_ptr() == c.data_ptr()
        assert scratch.buffer((5,), like.double()).dtype == torch.float64  # per dtype
        other = []
        thread = threading.Thread(target=lambda: other.append(scratch.buffer((5,), like)))
        thread.start()
        thread.join()
        assert other[0].data_ptr() != c.data_ptr()  # another thread: its own allocation
        with scratch.reuse():  # nested: the same buffers
            assert scratch.buffer((5,), like).data_ptr() == c.data_ptr()
        assert scratch.buffer((5,), like).data_ptr() == c.data_ptr()
    # after the block nothing is cached (c still holds the old memory, so new is elsewhere)
    assert scratch.buffer((10, 10), like).data_ptr() != c.data_ptr()


def _softmax_case(monkeypatch, device, seed):
    """300 float64 rows against 7 items in 128-row blocks (2 and a part), every 5th row
    ignored: (softmax module, user, items, target, generator)."""
    from skmatch.nn import softmax

    monkeypatch.setattr(softmax, "_BLOCK_ELEMENTS", 128 * 7)
    monkeypatch.setattr(softmax, "_CUDA_BLOCK_ELEMENTS", 128 * 7)
    g = torch.Generator().manual_seed(seed)
    user = torch.randn(300, 8, generator=g, dtype=torch.float64).to(device).requires_grad_()
    items = torch.randn(7, 8, generator=g, dtype=torch.float64).to(device).requires_grad_()
    target = torch.randint(0, 7, (300,), generator=g).to(device)
    target[::5] = -100  # ignored rows
    return softmax, user, items, target, g


def _assert_same_loss_and_grads(ours, ref, params):
    torch.testing.assert_close(ours, ref)
    for a, b in zip(
        torch.autograd.grad(3 * ours, params, retain_graph=True),
        torch.autograd.grad(3 * ref, params, retain_graph=True),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_loss_equals_cross_entropy_and_its_gradients(monkeypatch, device):
    import torch.nn.functional as F

    softmax, user, items, target, _ = _softmax_case(monkeypatch, device, 0)
    for temperature in (1.0, 0.3):
        ours = softmax.softmax_loss(user, items, target, temperature)
        ref = F.cross_entropy(user @ items.T / temperature, target, ignore_index=-100)
        _assert_same_loss_and_grads(ours, ref, [user, items])
    with torch.no_grad():
        torch.testing.assert_close(softmax.softmax_loss(user, items, target, 0.3), ref.detach())


@pytest.mark.parametrize("device", DEVICES)
def test_weighted_softmax_loss_is_the_weighted_mean_with_its_gradients(monkeypatch, device):
    import torch.nn.functional as F

    softmax, user, items, target, g = _softmax_case(monkeypatch, device, 3)  # ignored rows:
    # their weight does not count
    for weight in (
        torch.rand(300, generator=g, dtype=torch.float64) * 0.01,  # sums to under 1
        torch.rand(300, generator=g, dtype=torch.float64) * 5,
    ):
        weight = weight.to(device)
        ours = softmax.softmax_loss(user, items, target, 0.3, weight)
        per_row = F.cross_entropy(
            user @ items.T / 0.3, target, ignore_index=-100, reduction="none"
        )
        kept = weight * (target != -100)
        ref = (per_row * kept).sum() / kept.sum()
        _assert_same_loss_and_grads(ours, ref, [user, items])
        with torch.no_grad():
            torch.testing.assert_close(
                softmax.softmax_loss(user, items, target, 0.3, weight), ref.detach()
            )
    # weights of one: exactly the unweighted loss
    ones = torch.ones(300, dtype=torch.float64, device=device)
    assert torch.equal(
        softmax.softmax_loss(user, items, target, 1.0, ones),
        softmax.softmax_loss(user, items, target, 1.0),
    )
    # all weights zero: a zero loss with zero gradients, as the other losses' weighted mean
    zero = softmax.softmax_loss(user, items, target, 1.0, torch.zeros_like(ones))
    assert float(zero.detach()) == 0.0
    assert not any(gr.any() for gr in torch.autograd.grad(zero, [user, items]))


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_loss_under_autocast_matches_autocast_cross_entropy(monkeypatch, device):
    import torch.nn.functional as F

    from skmatch.nn import softmax

    monkeypatch.setattr(softmax, "_BLOCK_ELEMENTS", 128 * 50)  # 128-row blocks: 2 and a part
    monkeypatch.setattr(softmax, "_CUDA_BLOCK_ELEMENTS", 128 * 50)
    g = torch.Generator().manual_seed(1)
    user = torch.randn(300, 16, generator=g).to(device).requires_grad_()
    items = torch.randn(50, 16, generator=g).to(device).requires_grad_()
    target = torch.randint(0, 50, (300,), generator=g).to(device)
    target[::7] = -100
    with torch.autocast(device, dtype=torch.bfloat16):
        ours = softmax.softmax_loss(user, items, target, 0.5)
        ref = F.cross_entropy(user @ items.T / 0.5, target, ignore_index=-100)
    assert ours.dtype == torch.float32  # the softmax in float32, as cross_entropy's
    torch.testing.assert_close(ours, ref, rtol=0.01, atol=0)
    ours_grads = torch.autograd.grad(ours, [user, items])
    for a, b in zip(ours_grads, torch.autograd.grad(ref, [user, items]), strict=True):
        assert a.dtype == b.dtype == torch.float32
        assert ((a - b).norm() / b.norm()).item() < 0.02  # scale included, not just direction


def test_softmax_blocks_are_at_least_128_rows_on_either_device():
    """Blocks of fewer rows bound the memory of huge catalogues better but are far slower
    (every block reads the whole item table): 10^7 items on an H100 took 1.9 s a step
    with 8-row blocks against 0.59 s with 128 (benchmarks/results/cuda_2026-11-23.md)."""
    from skmatch.nn.softmax import _BLOCK_ELEMENTS, _CUDA_BLOCK_ELEMENTS, _block_rows

    assert _block_rows(1683) * 1683 <= _BLOCK_ELEMENTS  # a small catalogue: the block bounds
    assert _block_rows(1683, "cuda") * 1683 <= _CUDA_BLOCK_ELEMENTS
    for device in ("cpu", "cuda"):
        for n_items in (10**5, 10**6, 10**7):
            rows = _block_rows(n_items, device)
            assert rows % 128 == 0 and rows >= 128


def test_softmax_loss_edge_cases():
    import torch.nn.functional as F

    from skmatch.nn.softmax import softmax_loss

    g = torch.Generator().manual_seed(2)
    user = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    items = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    # every row ignored: NaN loss and zero gradients, as torch's cross_entropy
    none = torch.full((5,), -100)
    ours = softmax_loss(user, items, none)
    ref = F.cross_entropy(user @ items.T, none, ignore_index=-100)
    assert ours.isnan() and ref.isnan()
    ours_grads = torch.autograd.grad(ours, [user, items])
    for a, b in zip(ours_grads, torch.autograd.grad(ref, [user, items]), strict=True):
        assert torch.equal(a, b) and not a.any()
    with pytest.raises(IndexError, match=r"2 target\(s\) outside \[0, 3\).*first: \[-1, 3\]"):
        softmax_loss(user, items, torch.tensor([0, -1, 2, 3, -100]))
    loss = softmax_loss(user, items, torch.tensor([0, 1, 2, 1, 0]))
    (grad_user,) = torch.autograd.grad(loss**2, user, create_graph=True)
    with pytest.raises(RuntimeError):  # an error, not a silently wrong second order
        torch.autograd.grad(grad_user.sum(), user)


def test_bag_sum_edge_cases():
    from skmatch.nn import scratch
    from skmatch.nn.bag import bag_sum

    weight = torch.randn(6, 3, requires_grad=True)
    empty = bag_sum(torch.zeros(0, 4, dtype=torch.long), weight)  # an empty batch
    assert empty.shape == (0, 3)
    (grad,) = torch.autograd.grad(empty.sum(), weight)
    assert not grad.any()
    codes = torch.tensor([[0, 2, 5]])
    with scratch.reuse():
        out = bag_sum(codes, weight)
        (g,) = torch.autograd.grad((out**2).sum(), weight, create_graph=True)
        with pytest.raises(RuntimeError):  # first order only: an error, not a wrong number
            torch.autograd.grad(g.sum(), weight)


@pytest.mark.parametrize("reuse", [False, True])
def test_pairwise_additive_scores_equal_the_plain_formula_with_gradients(reuse):
    import contextlib

    from skmatch.nn import scratch
    from skmatch.nn.additive import pairwise_additive_scores

    g = torch.Generator().manual_seed(0)
    keys = torch.randn(3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    queries = torch.randn(3, 6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 6, 5, generator=g, dtype=torch.float64)
    plain = torch.sigmoid(keys.unsqueeze(1) + queries.unsqueeze(2)) @ w  # [3, 6, 5]
    expected = torch.autograd.grad((plain * weights).sum(), (keys, queries, w))
    with scratch.reuse() if reuse else contextlib.nullcontext():  # as inside a fit
        ours = pairwise_additive_scores(keys, queries, w)
        torch.testing.assert_close(ours, plain)
        for _ in range(2):  # a backward leaves the saved gate as it was
            got = torch.autograd.grad((ours * weights).sum(), (keys, queries, w),
                                      retain_graph=True)  # fmt: skip
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b)
        if reuse:  # a second forward reuses the gate's memory: an error, not a wrong number
            pairwise_additive_scores(keys, queries, w)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                torch.autograd.grad(ours.sum(), keys)
