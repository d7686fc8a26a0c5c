"""Encoders shared by the towers: items (id + side features), user features, histories."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from skmatch.nn.bag import bag_sum
from skmatch.nn.embedding import FeatureEmbedding, masked_mean


class FeatureDef(NamedTuple):
    """A side feature as the towers see it (built from a fitted FeatureSpec)."""

    name: str
    kind: str  # "sparse" | "multi" | "dense"
    table: torch.Tensor  # per-code values ([n_codes] or [n_codes, T])
    n_values: int


class ItemEncoder(nn.Module):
    """Concatenated embeddings of an item's id and side features: ``[..., out_dim]``.

    Parameters
    ----------
    n_items : int
        Size of the item code space (padding 0 and OOV 1 included).
    dim : int
        Width of each embedding.
    features : list of FeatureDef
        Item side features (their tables are indexed by item code).
    use_features : bool, default True
        Whether to include the side features.
    """

    def __init__(self, n_items: int, dim: int, features=(), use_features: bool = True) -> None:
        super().__init__()
        self.id_embedding = nn.Embedding(n_items, dim, padding_idx=0)
        nn.init.normal_(self.id_embedding.weight, std=0.05)
        with torch.no_grad():
            self.id_embedding.weight[0].zero_()
        feats = list(features) if use_features else []
        self.features = nn.ModuleDict(
            {f.name: FeatureEmbedding(f.table, f.kind, f.n_values, dim) for f in feats}
        )
        self.out_dim = dim * (1 + len(feats))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        parts = [self.id_embedding(codes)]
        parts += [emb(codes) for emb in self.features.values()]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class UserFeatureEncoder(nn.Module):
    """Concatenated embeddings of a user's own side features: ``[B, out_dim]``."""

    def __init__(self, dim: int, features=()) -> None:
        super().__init__()
        self.features = nn.ModuleDict(
            {f.name: FeatureEmbedding(torch.zeros(0), f.kind, f.n_values, dim) for f in features}
        )
        self.out_dim = dim * len(self.features)

    def forward(self, feats: dict) -> torch.Tensor | None:
        if not self.features:
            return None
        return torch.cat([emb.embed_values(feats[n]) for n, emb in self.features.items()], -1)


class PooledHistory(nn.Module):
    """Mean of the item encodings of a history, padding masked: ``[B, L] -> [B, out_dim]``."""

    def __init__(self, items: ItemEncoder) -> None:
        super().__init__()
        self.items = items
        self.out_dim = items.out_dim

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        # a fused lookup-and-sum (much cheaper than lookup + mean); sum / count is the
        # masked mean
        mask = hist > 0
        count = mask.sum(1, keepdim=True).clamp_min(1).to(self.items.id_embedding.weight.dtype)
        parts = [bag_sum(hist, self.items.id_embedding.weight)]
        for emb in self.items.features.values():
            if emb.kind == "sparse":
                parts.append(bag_sum(emb.table[hist], emb.embedding.weight))  # [B, L] values
            else:
                parts.append(masked_mean(emb(hist), mask) * count)
        pooled = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return pooled / count
