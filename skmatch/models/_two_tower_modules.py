"""Torch modules of the two-tower family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skmatch.nn.mlp import MLP
from skmatch.nn.towers import ItemEncoder, PooledHistory, UserFeatureEncoder


class TwoTowerModule(nn.Module):
    """User tower: MLP over the pooled history and the user's features; item tower: MLP
    over the item's id and side features, or the item id embedding alone.

    Parameters
    ----------
    n_item_codes : int
    dim : int
        Output (and embedding) width.
    item_features, user_features : list of FeatureDef
    hidden_dims : sequence of int
        Hidden widths of both towers' MLPs (output layer of width ``dim`` added).
    dropout : float
    normalize : bool
        L2-normalise both towers' outputs (cosine similarity).
    item_mlp : bool
        Whether the item tower has an MLP (DSSM) or is the id embedding (YoutubeDNN).
    """

    def __init__(
        self,
        n_item_codes: int,
        dim: int,
        item_features,
        user_features,
        hidden_dims,
        dropout: float,
        normalize: bool,
        item_mlp: bool,
    ) -> None:
        super().__init__()
        self.items = ItemEncoder(n_item_codes, dim, item_features)
        self.history = PooledHistory(self.items)
        self.user_features = UserFeatureEncoder(dim, user_features)
        user_in = self.history.out_dim + self.user_features.out_dim
        self.user_mlp = MLP(user_in, [*hidden_dims, dim], dropout)
        self.item_mlp = MLP(self.items.out_dim, [*hidden_dims, dim], dropout) if item_mlp else None
        self.normalize = normalize

    def user_forward(self, batch: dict) -> torch.Tensor:  # -> [B, D]
        parts = [self.history(batch["hist"])]  # [B, Din]
        feats = self.user_features({n: batch[f"user:{n}"] for n in self.user_features.features})
        if feats is not None:
            parts.append(feats)
        out = self.user_mlp(torch.cat(parts, dim=-1))
        return F.normalize(out, dim=-1) if self.normalize else out

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        if self.item_mlp is None:
            out = self.items.id_embedding(codes)
        else:
            out = self.item_mlp(self.items(codes))
        return F.normalize(out, dim=-1) if self.normalize else out
