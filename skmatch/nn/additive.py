"""Additive (Bahdanau-style) attention scores with a lean backward pass.

``scores[b, l] = w · sigmoid(keys[b, l] + query[b])``: the attention of STAMP and NARM.
Written with autograd's ops this materialises about a dozen ``[B, L, D]`` tensors per
step (the sum, the sigmoid, its backward, the broadcast products); on CPU each one is a
fresh multi-megabyte allocation and a pass over memory, and together they were most of
STAMP's training time. :func:`additive_scores` allocates one ``[B, L, D]`` tensor
forward and one backward and works in place otherwise. The result and the gradients are
those of the plain formula (up to float rounding order).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from skmatch.nn import scratch


class _AdditiveScores(torch.autograd.Function):
    @staticmethod
    def forward(ctx, keys, query, w):  # [B, L, D], [B, D], [D] -> [B, L]
        with torch.autocast(keys.device.type, enabled=False):  # in the inputs' one dtype
            gate = torch.add(keys, query.unsqueeze(-2)).sigmoid_()  # the one [B, L, D]
            ctx.save_for_backward(gate, w)
            return torch.matmul(gate, w)

    @staticmethod
    def backward(ctx, grad):  # grad [B, L]
        gate, w = ctx.saved_tensors
        grad = grad.to(gate.dtype)
        # d score / d pre-activation = w * gate * (1 - gate), times the incoming grad
        d = torch.mul(gate, gate).neg_().add_(gate)  # gate (1 - gate)
        d.mul_(grad.unsqueeze(-1)).mul_(w)  # [B, L, D]
        grad_w = None
        if ctx.needs_input_grad[2]:
            grad_w = torch.matmul(grad.reshape(1, -1), gate.reshape(-1, gate.shape[-1]))[0]
        grad_query = d.sum(-2) if ctx.needs_input_grad[1] else None
        return d, grad_query, grad_w


def additive_scores(keys: torch.Tensor, query: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w · sigmoid(keys + query)`` for every key: ``[B, L, D], [B, D], [D] -> [B, L]``.

    Parameters
    ----------
    keys : Tensor of shape (B, L, D)
        Projected keys (history items or states).
    query : Tensor of shape (B, D)
        Projected query, added to every key of its row (bias included).
    w : Tensor of shape (D,)
        The scoring vector.
    """
    if keys.dtype != query.dtype or keys.dtype != w.dtype:  # autocast: one dtype for all
        dtype = torch.promote_types(torch.promote_types(keys.dtype, query.dtype), w.dtype)
        keys, query, w = keys.to(dtype), query.to(dtype), w.to(dtype)
    return _AdditiveScores.apply(keys, query, w)


class _PairwiseAdditiveScores(torch.autograd.Function):
    # The [W, T, L, D] gate and its gradient are the largest tensors of a NARM step
    # (128 x 50 x 50 x 100 floats: 128 MB each). Fresh, each is page-faulted in at every
    # step, which took 60-110 ms against 5-15 ms for an in-place pass over it; in a fit
    # (scratch.reuse) both live in scratch memory kept across steps. The saved gate is
    # never written by backward, so a repeated backward (retain_graph) stays right.
    @staticmethod
    def forward(ctx, keys, queries, w):  # [W, L, D], [W, T, D], [D] -> [W, T, L]
        with torch.autocast(keys.device.type, enabled=False):
            shape = (keys.shape[0], queries.shape[1], keys.shape[1], keys.shape[2])
            gate = scratch.buffer(shape, keys, slot="pairwise_additive_gate")
            torch.add(keys.unsqueeze(1), queries.unsqueeze(2), out=gate).sigmoid_()
            ctx.save_for_backward(gate, w)
            return torch.matmul(gate, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # grad [W, T, L]
        gate, w = ctx.saved_tensors
        grad = grad.to(gate.dtype)
        d = scratch.buffer(gate.shape, gate, slot="pairwise_additive_grad")
        torch.mul(gate, gate, out=d).neg_().add_(gate)  # gate (1 - gate)
        d.mul_(grad.unsqueeze(-1)).mul_(w)  # [W, T, L, D]
        grad_w = None
        if ctx.needs_input_grad[2]:
            grad_w = torch.matmul(grad.reshape(1, -1), gate.reshape(-1, gate.shape[-1]))[0]
        grad_keys = d.sum(1) if ctx.needs_input_grad[0] else None  # over the queries
        grad_queries = d.sum(2) if ctx.needs_input_grad[1] else None  # over the keys
        return grad_keys, grad_queries, grad_w


def pairwise_additive_scores(keys: torch.Tensor, queries: torch.Tensor, w: torch.Tensor):
    """``w · sigmoid(keys[j] + queries[t])`` for every query and key of a sequence.

    ``[W, L, D], [W, T, D], [D] -> [W, T, L]``: the additive attention of every position
    ``t`` of a window over every position ``j`` in one pass (NARM trained on windows),
    with one ``[W, T, L, D]`` tensor forward and one backward, and no gathers.
    """
    if keys.dtype != queries.dtype or keys.dtype != w.dtype:
        dtype = torch.promote_types(torch.promote_types(keys.dtype, queries.dtype), w.dtype)
        keys, queries, w = keys.to(dtype), queries.to(dtype), w.to(dtype)
    return _PairwiseAdditiveScores.apply(keys, queries, w)

