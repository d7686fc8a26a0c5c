"""Point-, pair- and list-wise retrieval losses over positive and negative logits.

Every loss takes ``pos`` ``[B]`` (the logit of each row's positive item), ``neg``
``[B, N]`` (logits of its negatives) and ``valid`` ``[B, N]`` (False for masked
negatives: the row's own positive, duplicates, padding), plus optional row ``weight``
``[B]``. Logits are already divided by the temperature and logQ-corrected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_mean(per_row: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``per_row`` ``[B]``, weighted by ``weight`` ``[B]`` when given."""
    if weight is None:
        return per_row.mean()
    return (per_row * weight).sum() / weight.sum().clamp_min(1e-12)


def listwise_loss(pos, neg, valid, weight=None) -> torch.Tensor:
    """Softmax cross-entropy of the positive against its negatives."""
    neg = neg.masked_fill(~valid, float("-inf"))
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1)  # [B, 1 + N]
    per_row = torch.logsumexp(logits, dim=1) - pos
    return weighted_mean(per_row, weight)


def pairwise_loss(pos, neg, valid, weight=None) -> torch.Tensor:
    """BPR: ``-log sigmoid(pos - neg)`` averaged over each row's valid negatives."""
    diff = F.logsigmoid(pos.unsqueeze(1) - neg)  # [B, N]
    v = valid.to(diff.dtype)
    per_row = -(diff * v).sum(1) / v.sum(1).clamp_min(1.0)
    return weighted_mean(per_row, weight)


def pointwise_loss(pos, neg, valid, weight=None, labels=None) -> torch.Tensor:
    """Binary cross-entropy: positive logits towards 1 (or ``labels``), negatives to 0.

    The negatives of a row are averaged so that a row weighs as much as its positive.
    """
    target = torch.ones_like(pos) if labels is None else labels.to(pos.dtype)
    pos_term = F.binary_cross_entropy_with_logits(pos, target, reduction="none")
    if neg.shape[1] == 0:
        return weighted_mean(pos_term, weight)
    neg_term = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none")
    v = valid.to(neg.dtype)
    per_row = pos_term + (neg_term * v).sum(1) / v.sum(1).clamp_min(1.0)
    return weighted_mean(per_row, weight)


LOSSES = {"listwise": listwise_loss, "pairwise": pairwise_loss, "pointwise": pointwise_loss}
