"""Dropout whose mask is drawn with ``torch.rand_like``: fast on CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout, as :class:`torch.nn.Dropout`: in training each element is zeroed
    with probability ``p`` and the others are scaled by ``1 / (1 - p)``; in evaluation
    the input passes unchanged.

    On CPU the keep-mask is ``rand_like(x) >= p`` instead of ``bernoulli_``, which costs
    about three times as much there: ``torch.nn.Dropout`` took a quarter of SASRec's
    training time on MovieLens 100K. On CUDA it is ``torch.nn.functional.dropout`` (a
    fused kernel). The random numbers come from torch's generator, seeded by the
    estimator's ``random_state``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
