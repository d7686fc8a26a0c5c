"""Embedding of ids and side features, and masked pooling of sequences."""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim -2 of ``x`` [..., L, D] where ``mask`` [..., L] is true; 0 if none."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(-2) / m.sum(-2).clamp_min(1.0)


class FeatureEmbedding(nn.Module):
    """Embeds one side feature per code: sparse id, multi-valued tokens or dense value.

    The feature's values per item (or user) code live in a buffer ``table`` so that
    callers pass codes only; multi-valued features are mean-pooled over their tokens
    (padding 0 masked), dense values are projected by a linear layer.

    Parameters
    ----------
    table : Tensor
        ``[n_codes]`` int64 (sparse), ``[n_codes, T]`` int64 (multi) or ``[n_codes]``
        float32 (dense).
    kind : {"sparse", "multi", "dense"}
    n_values : int
        Vocabulary size (sparse and multi).
    dim : int
        Embedding width.
    """

    def __init__(self, table: torch.Tensor, kind: str, n_values: int, dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("table", table)
        if kind == "dense":
            self.proj = nn.Linear(1, dim)
        else:
            self.embedding = nn.Embedding(n_values, dim, padding_idx=0)
            nn.init.normal_(self.embedding.weight, std=0.05)
            with torch.no_grad():
                self.embedding.weight[0].zero_()

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [...] -> [..., D]
        values = self.table[codes]
        if self.kind == "dense":
            return self.proj(values.unsqueeze(-1))
        emb = self.embedding(values)
        if self.kind == "multi":
            return masked_mean(emb, values > 0)
        return emb

    def embed_values(self, values: torch.Tensor) -> torch.Tensor:
        """Embed already-encoded values (a user's own features) rather than codes."""
        if self.kind == "dense":
            return self.proj(values.unsqueeze(-1))
        emb = self.embedding(values)
        return masked_mean(emb, values > 0) if self.kind == "multi" else emb
