"""A retrieval module whose item tower is one embedding table (sequence and interest models),
with the items' and the user's side features fused in."""

from __future__ import annotations

import torch
from torch import nn

from skmatch.nn.embedding import FeatureEmbedding
from skmatch.nn.protocol import Batch, RetrievalModule
from skmatch.nn.towers import UserFeatureEncoder

ITEM_STD = 0.05  # normal initialisation of the item tables


class ItemTableModule(RetrievalModule):
    """Items are rows of one table, shared by the history input and the scored side.

    With item side features, an item's vector is the sum of its id row and the
    embeddings of its features (``embed_items``), wherever item ids enter: the history
    and the scored items alike (the sum fusion of RecBole's SASRecF). With user side
    features, :meth:`add_user` adds a linear map of their embeddings to the user vector
    (of every position, for windows).

    Parameters
    ----------
    n_item_codes : int
    dim : int
    std : float, default 0.05
        Standard deviation of the table's normal initialisation (row 0, padding, is 0).
    item_features, user_features : sequence of FeatureDef, default ()
    """

    def __init__(self, n_item_codes: int, dim: int, std: float = ITEM_STD, item_features=(),
                 user_features=()) -> None:  # fmt: skip
        super().__init__(n_item_codes)
        self.items = nn.Embedding(n_item_codes, dim, padding_idx=0)
        nn.init.normal_(self.items.weight, std=std)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.item_features = nn.ModuleDict(
            {f.name: FeatureEmbedding(f.table, f.kind, f.n_values, dim) for f in item_features}
        )
        self.user_features = UserFeatureEncoder(dim, user_features)
        self.user_proj = nn.Linear(self.user_features.out_dim, dim) if user_features else None

    @property
    def has_item_features(self) -> bool:
        return len(self.item_features) > 0

    def embed_items(self, codes: torch.Tensor) -> torch.Tensor:  # [...] -> [..., D]
        """The id row of each code plus its side features' embeddings (0 at padding)."""
        x = self.items(codes)
        for emb in self.item_features.values():
            x = x + emb(codes) * (codes > 0).unsqueeze(-1).to(x.dtype)
        return x

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        return self.embed_items(codes)

    def all_items(self, first: int) -> torch.Tensor:
        """``item_forward(arange(first, n_codes))``; without side features a view of the
        table: no gather, and a backward without the embedding's index sort (the full
        softmax's item side)."""
        if not self.has_item_features:
            return self.items.weight[first:]
        return super().all_items(first)

    def add_user(self, vectors: torch.Tensor, batch: Batch, positions=None) -> torch.Tensor:
        """``vectors`` plus the user features' part: ``[B, D]``, ``[B, K, D]`` (one per
        interest), ``[B, L, D]`` (every position), or ``[P, D]`` at the true entries of
        ``positions [B, L]``."""
        if self.user_proj is None:
            return vectors
        u = self.user_proj(self.user_features(batch.user_features))  # [B, D]
        if positions is not None:
            return vectors + u[positions.nonzero(as_tuple=True)[0]]  # [P, D]
        return vectors + (u if vectors.dim() == 2 else u.unsqueeze(1))


def causal_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[B, L(t), L(j)]``: position ``j`` holds an item and comes no later than ``t``."""
    L = mask.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=mask.device).tril()
    return causal.unsqueeze(0) & mask.unsqueeze(1)
