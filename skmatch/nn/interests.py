"""Multi-interest extraction: capsule routing, self-attentive heads, interest selection.

All functions read a left-padded history ``x`` ``[B, L, D]`` with its mask ``[B, L]`` (True
where there is an item) and return ``K`` interest vectors ``[B, K, D]``. Position-dependent
weights are right-aligned (the most recent item always uses the last row), so a batch
whose leading all-padding columns were trimmed gives the same result.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from skmatch.nn import scratch
from skmatch.nn.softmax import autocast_dtype


def squash(z: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Capsule non-linearity ``|z|^2 / (1 + |z|^2) * z / |z|`` over the last axis."""
    sq = z.pow(2).sum(-1, keepdim=True)
    return z * (sq / (1 + sq) / torch.sqrt(sq + eps))


class CapsuleRouting(nn.Module):
    """Behaviour-to-interest dynamic routing (MIND, Li et al. 2019; ComiRec-DR, Cen et al. 2020).

    Parameters
    ----------
    dim : int
    n_interests : int
    max_len : int
        Longest history (rows of the per-position maps and routing logits).
    routing_iters : int
    bilinear : {"shared", "per_position"}
        ``"shared"`` (MIND): one map ``S`` for every behaviour and interest, routing logits
        initialised from a fixed Gaussian draw (a buffer, so inference is deterministic)
        to break the symmetry between capsules. ``"per_position"`` (ComiRec-DR): a map
        ``W_ij`` for each history position ``i`` and interest ``j``, logits from zero.

    Notes
    -----
    Each iteration: coupling ``w_ij = softmax_j(b_ij)`` (padding gets 0), capsule
    ``v_j = squash(sum_i w_ij u_j|i)``, update ``b_ij += v_j . u_j|i``. As in the papers'
    code, gradients flow through the predictions ``u_j|i`` only in the last iteration.
    """

    def __init__(
        self, dim: int, n_interests: int, max_len: int, routing_iters: int, bilinear: str
    ) -> None:
        super().__init__()
        self.n_interests, self.routing_iters, self.bilinear = n_interests, routing_iters, bilinear
        # maps start at the identity plus noise: predictions start in the item space (the
        # space the interests are scored in) and the noise breaks the interests' symmetry
        if bilinear == "shared":
            self.S = nn.Linear(dim, dim, bias=False)
            _identity_plus_noise(self.S.weight, dim)
            self.register_buffer("logits_init", torch.randn(n_interests, max_len))
        else:
            self.W = nn.Parameter(torch.empty(max_len, n_interests, dim, dim))
            _identity_plus_noise(self.W, dim)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, active: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Interests ``[B, K, D]``; ``active`` ``[B, K]`` (optional) limits each row's
        routing to its active capsules (the others come out as zeros)."""
        B, L, D = x.shape
        K = self.n_interests
        if self.bilinear == "shared":  # one prediction per behaviour: u [B, L, D]
            u = self.S(x)
            b = self.logits_init[:, -L:].unsqueeze(0).expand(B, -1, -1)  # [B, K, L]
        else:  # one per behaviour and interest: u [L, B, K, D], one matmul per position
            w = self.W[-L:].reshape(L, K * D, D).transpose(1, 2)  # [L, D, K*D]
            u = torch.bmm(x.transpose(0, 1), w).view(L, B, K, D)
            b = x.new_zeros(B, K, L)
        keep = mask.unsqueeze(1).to(x.dtype)  # [B, 1, L]
        if active is not None:  # inactive capsules take no part in the coupling softmax
            b = b.masked_fill(~active.unsqueeze(-1), torch.finfo(b.dtype).min)
            keep = keep * active.unsqueeze(-1).to(x.dtype)
        for it in range(self.routing_iters):
            last = it == self.routing_iters - 1
            u_it = u if last else u.detach()
            c = torch.softmax(b, dim=1) * keep  # coupling [B, K, L]
            v = squash(self._pool(c, u_it))  # [B, K, D]
            if not last:
                b = b + self._agree(v, u_it)
        return v

    def _pool(self, c, u):  # sum_i c_ki u_k|i: [B, K, D]
        if self.bilinear == "shared":
            return c @ u
        return (c.permute(2, 0, 1).unsqueeze(-1) * u).sum(0)

    def _agree(self, v, u):  # v_k . u_k|i: [B, K, L]
        if self.bilinear == "shared":
            return v @ u.transpose(1, 2)
        return (u * v.unsqueeze(0)).sum(-1).permute(1, 2, 0)


@torch.no_grad()
def _identity_plus_noise(weight: torch.Tensor, dim: int) -> None:
    nn.init.normal_(weight, std=0.1 * dim**-0.5)
    weight += torch.eye(dim, dtype=weight.dtype)


class SelfAttentiveInterests(nn.Module):
    """Self-attentive multi-interest extraction (ComiRec-SA, Cen et al. 2020).

    ``A = softmax_L(W2 tanh(W1 (x + p)))`` over the non-padding positions, one attention
    distribution per interest, and interests ``A x`` ``[B, K, D]``.
    """

    def __init__(self, dim: int, n_interests: int, max_len: int, hidden: int) -> None:
        super().__init__()
        self.positions = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.positions, std=0.02)
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, n_interests)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        y = x + self.positions[-L:]
        if autocast_dtype(x.device.type) is not None:  # the layers in autocast's dtype
            scores = self.w2(torch.tanh(self.w1(y)))  # [B, L, K]
        else:
            scores = _TanhScores.apply(y.reshape(B * L, D), self.w1.weight, self.w1.bias,
                                       self.w2.weight, self.w2.bias).view(B, L, -1)  # fmt: skip
        scores = scores.transpose(1, 2)  # [B, K, L]
        att = masked_softmax(scores, mask.unsqueeze(1), dim=-1)
        return att @ x  # [B, K, D]


class _TanhScores(torch.autograd.Function):
    """``w2(tanh(w1(y)))``, ``[N, D] -> [N, K]``, with its ``[N, H]`` hidden layer and that
    layer's gradient in scratch memory kept across the steps of a fit
    (:mod:`skmatch.nn.scratch`): fresh, each of those multi-megabyte tensors (ComiRec-SA:
    12,800 x 256 floats) was page-faulted in at every step. The values and gradients are
    those of the two layers (a test checks them)."""

    @staticmethod
    def forward(ctx, y, w1, b1, w2, b2):
        h = scratch.buffer((y.shape[0], w1.shape[0]), y, slot="tanh_scores_hidden")
        torch.addmm(b1, y, w1.T, out=h).tanh_()  # [N, H]
        ctx.save_for_backward(y, w1, w2, h)
        return torch.addmm(b2, h, w2.T)  # [N, K]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # [N, K]
        y, w1, w2, h = ctx.saved_tensors
        grad_w2, grad_b2 = grad.T @ h, grad.sum(0)
        dh = scratch.buffer(h.shape, h, slot="tanh_scores_grad")
        torch.mm(grad, w2, out=dh)  # [N, H]
        tmp = scratch.buffer(h.shape, h, slot="tanh_scores_tmp")
        dh.mul_(torch.mul(h, h, out=tmp).neg_().add_(1.0))  # tanh' = 1 - tanh^2
        return dh @ w1, dh.T @ y, dh.sum(0), grad_w2, grad_b2


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` where ``mask`` is True; all-False rows give zeros, never NaN."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim) * mask.to(scores.dtype)


def label_aware_attention(
    interests: torch.Tensor, target: torch.Tensor, power: float, active: torch.Tensor | None = None
) -> torch.Tensor:
    """Attend over a user's interests with the target item (MIND's label-aware attention).

    Weights ``softmax_k(power * <v_k, e>)``: ``power=0`` averages the interests, large
    values approach the hard selection of the best one; ``power=inf`` is that hard
    selection (ComiRec's training rule). Inactive interests (``active`` False) get no weight.

    Parameters
    ----------
    interests : Tensor ``[B, K, D]``
    target : Tensor ``[B, D]``
    power : float
    active : bool Tensor ``[B, K]``, optional

    Returns
    -------
    Tensor ``[B, D]``
    """
    scores = (interests * target.unsqueeze(1)).sum(-1)  # [B, K]
    if power == float("inf"):
        if active is not None:
            scores = scores.masked_fill(~active, float("-inf"))
        best = scores.argmax(1)
        return interests[torch.arange(interests.shape[0], device=interests.device), best]
    logits = power * scores
    if active is not None:
        logits = logits.masked_fill(~active, float("-inf"))
    weights = torch.softmax(logits, dim=1)  # at least one interest is always active
    return (weights.unsqueeze(-1) * interests).sum(1)
