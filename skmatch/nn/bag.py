"""Sum of a padded sequence's embeddings, with a cheap forward and backward on CPU.

``bag_sum(codes, weight)[b] = sum(weight[codes[b, l]] for l where codes[b, l] != 0)``:
what ``F.embedding_bag(codes, weight, mode="sum", padding_idx=0)`` computes. On CPU that
call is about ten times slower than the same bag without ``padding_idx`` (it leaves the
vectorised kernel), and its backward sorts every index of the batch. Here the forward
masks the padding with ``per_sample_weights`` (the vectorised kernel) and the backward
adds each slot's gradient into the row of its code with one ``index_add_`` (no sort), the
padding row's gradient set to zero as ``padding_idx`` does. The ``[B * L, D]`` source of
that addition is scratch memory reused across the steps of a fit
(:mod:`skmatch.nn.scratch`). Results and gradients equal the ``padding_idx`` call's, up
to the order of float additions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from skmatch.nn import scratch


class _BagSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, codes, weight):  # [B, L] int64, [N, D] -> [B, D]
        ctx.save_for_backward(codes)
        ctx.n_rows = weight.shape[0]
        return _masked_bag(codes, weight)

    @staticmethod
    @once_differentiable  # the scratch copy must not enter a graph
    def backward(ctx, grad):  # [B, D]
        (codes,) = ctx.saved_tensors
        n_bags, length = codes.shape
        per_slot = scratch.buffer((n_bags, length, grad.shape[1]), grad)  # [B, L, D]
        per_slot.copy_(grad.unsqueeze(1).expand(n_bags, length, -1))
        grad_weight = grad.new_zeros(ctx.n_rows, grad.shape[1])  # [N, D]
        source = per_slot.view(n_bags * length, grad.shape[1])
        grad_weight.index_add_(0, codes.reshape(-1), source)
        grad_weight[0] = 0  # the padding row, as padding_idx=0
        return None, grad_weight


def _masked_bag(codes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    keep = (codes != 0).to(weight.dtype)  # [B, L]
    return F.embedding_bag(codes, weight, mode="sum", per_sample_weights=keep)


def bag_sum(codes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum of the rows of ``weight`` named by each row of ``codes``, code 0 (padding) skipped.

    Parameters
    ----------
    codes : Tensor
        ``[B, L]`` int64 codes; 0 is padding and contributes nothing.
    weight : Tensor
        ``[N, D]`` embedding table.

    Returns
    -------
    Tensor
        ``[B, D]``; the gradient reaches ``weight`` (never its row 0).
    """
    if codes.device.type == "cpu" and torch.is_grad_enabled() and weight.requires_grad:
        return _BagSum.apply(codes, weight)
    return _masked_bag(codes, weight)  # autograd's embedding_bag backward (CUDA)
