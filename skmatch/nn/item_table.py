"""A retrieval module whose item tower is one embedding table (sequence and interest models)."""

from __future__ import annotations

import torch
from torch import nn

from skmatch.nn.protocol import RetrievalModule

ITEM_STD = 0.05  # normal initialisation of the item tables


class ItemTableModule(RetrievalModule):
    """Items are rows of one table, shared by the history input and the scored side.

    Parameters
    ----------
    n_item_codes : int
    dim : int
    std : float, default 0.05
        Standard deviation of the table's normal initialisation (row 0, padding, is 0).
    """

    def __init__(self, n_item_codes: int, dim: int, std: float = ITEM_STD) -> None:
        super().__init__(n_item_codes)
        self.items = nn.Embedding(n_item_codes, dim, padding_idx=0)
        nn.init.normal_(self.items.weight, std=std)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        return self.items(codes)

    def all_items(self, first: int) -> torch.Tensor:
        """``item_forward(arange(first, n_codes))`` as a view of the table: no gather, and
        a backward without the embedding's index sort (the full softmax's item side)."""
        return self.items.weight[first:]


def causal_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[B, L(t), L(j)]``: position ``j`` holds an item and comes no later than ``t``."""
    L = mask.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=mask.device).tril()
    return causal.unsqueeze(0) & mask.unsqueeze(1)
