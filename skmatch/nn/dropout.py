"""Dropout with a mask drawn cheaply on CPU: four 16-bit lanes per 64-bit random draw."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LANES = 65536  # values of a 16-bit lane


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask shaped like ``x``, each element false (dropped) with probability ``p``.

    One 64-bit draw of torch's generator gives four independent 16-bit lanes, and an
    element is dropped when its lane falls in the lowest ``round(p * 65536)`` values.
    ``torch.rand_like`` spends a 32-bit draw and a float conversion per element and
    ``bernoulli_`` costs about three times that, which made them a fifth of SASRec's
    CPU training time. The probability is exact to 1 / 65536.
    """
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    bits.random_(-(2**63), None)  # the full 64-bit range: every lane uniform
    lanes = bits.view(torch.int16)[:n].view(x.shape)
    return lanes >= _dropped_lanes(p) - _LANES // 2


def _dropped_lanes(p: float) -> int:
    """How many of the 65536 lane values drop an element (at least one is kept)."""
    return min(round(p * _LANES), _LANES - 1)


def keep_scale(p: float) -> float:
    """``1 / P(kept)`` of :func:`keep_mask`: the inverted-dropout scale, exact for the
    mask's resolution (``1 / (1 - p)`` to within 1 / 65536)."""
    return _LANES / (_LANES - _dropped_lanes(p))


class Dropout(nn.Module):
    """Inverted dropout, as :class:`torch.nn.Dropout`: in training each element is zeroed
    with probability ``p`` and the others are scaled by ``1 / (1 - p)``; in evaluation
    the input passes unchanged.

    On CPU the mask comes from :func:`keep_mask` (16 random bits per element, a quarter
    of a draw) and the kept elements are scaled by :func:`keep_scale`; on CUDA it is
    :func:`torch.nn.functional.dropout` (a fused kernel). The random numbers come from
    torch's generator, seeded by the estimator's ``random_state``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return (x * keep_mask(x, self.p)).mul_(keep_scale(self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
