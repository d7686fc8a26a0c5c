"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from skmatch.nn.dropout import Dropout

ACTIVATIONS = {
    "relu": nn.ReLU,
    "prelu": nn.PReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class MLP(nn.Module):
    """Linear layers with an activation and dropout between them.

    Parameters
    ----------
    in_dim : int
        Input width.
    dims : sequence of int
        Output widths of the layers; the last layer has no activation.
    dropout : float, default 0.0
    activation : {"relu", "prelu", "gelu", "tanh", "sigmoid"}, default "relu"
        ``"prelu"`` learns one slope per layer (torch's ``PReLU()``, initialised 0.25).
    """

    def __init__(
        self, in_dim: int, dims: Sequence[int], dropout: float = 0.0, activation: str = "relu"
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for i, out_dim in enumerate(dims):
            layers.append(nn.Linear(in_dim, out_dim))
            if i < len(dims) - 1:
                layers.append(act())
                if dropout > 0:
                    layers.append(Dropout(dropout))
            in_dim = out_dim
        self.net = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        return self.net(x)
