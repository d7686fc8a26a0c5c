"""Torch modules of the sequential family: GRU4Rec, NARM, SASRec, STAMP.

Every module embeds items with one table (the item tower), reads left-padded histories
``batch["hist"]`` ``[B, L]`` (0 = padding) and returns ``user_forward(batch) -> [B, D]``;
the causal ones also give ``sequence_forward(batch, positions=None) -> [B, L, D]`` (a
state per position), or ``[P, D]``: the states at the ``P`` true entries of the boolean
``positions [B, L]`` (the positions that have a next item to predict).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skmatch.nn.additive import additive_scores
from skmatch.nn.dropout import Dropout
from skmatch.nn.sequence import CausalSelfAttention, PackedGRU


def causal_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[B, L(t), L(j)]``: position ``j`` holds an item and comes no later than ``t``."""
    L = mask.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=mask.device).tril()
    return causal.unsqueeze(0) & mask.unsqueeze(1)


ITEM_STD = 0.05  # normal initialisation of the item tables


class _ItemTable(nn.Module):
    def __init__(self, n_item_codes: int, dim: int, std: float = ITEM_STD) -> None:
        super().__init__()
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


class GRU4RecModule(_ItemTable):
    """GRU over the history (Hidasi et al. 2016; Tan et al. 2016), projected to ``dim``."""

    def __init__(self, n_item_codes, dim, hidden_size, n_layers, dropout) -> None:
        super().__init__(n_item_codes, dim)
        self.dropout = Dropout(dropout)
        self.gru = PackedGRU(dim, hidden_size, n_layers, dropout)
        self.out = nn.Linear(hidden_size, dim)

    def sequence_forward(self, batch: dict, positions=None) -> torch.Tensor:
        hist = batch["hist"]  # [B, L]
        out, _ = self.gru(self.dropout(self.items(hist)), hist > 0)  # [B, L, H]
        return self.out(out if positions is None else out[positions])  # [B, L, D] or [P, D]

    def user_forward(self, batch: dict) -> torch.Tensor:
        hist = batch["hist"]
        _, last = self.gru(self.dropout(self.items(hist)), hist > 0)  # [B, H]
        return self.out(last)


class SASRecModule(_ItemTable):
    """Causal self-attention over the history (Kang & McAuley 2018)."""

    def __init__(self, n_item_codes, dim, n_heads, n_layers, dropout, max_len) -> None:
        super().__init__(n_item_codes, dim)
        # positions start on the scale of the sqrt(D)-scaled item rows (ITEM_STD * sqrt(D)),
        # not torch's N(0, 1), which drowned the items: +7% validation NDCG@10 on ML-100K
        # over 3 seeds (docs/benchmarks.md, "SASRec position init")
        self.encoder = CausalSelfAttention(
            dim, n_heads, n_layers, dropout, max_len, position_std=ITEM_STD * dim**0.5
        )

    def sequence_forward(self, batch: dict, positions=None) -> torch.Tensor:
        hist = batch["hist"]
        states = self.encoder(self.items(hist), hist > 0)  # [B, L, D]
        return states if positions is None else states[positions]  # [B, L, D] or [P, D]

    def user_forward(self, batch: dict) -> torch.Tensor:
        return self.sequence_forward(batch)[:, -1]  # the most recent position


class NARMModule(_ItemTable):
    """Neural attentive session model (Li et al. 2017): global GRU state + attention."""

    def __init__(self, n_item_codes, dim, hidden_size, n_layers, dropout, output_dropout):
        super().__init__(n_item_codes, dim)
        self.dropout = Dropout(dropout)
        self.gru = PackedGRU(dim, hidden_size, n_layers)
        self.a1 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.a2 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)
        self.out_dropout = Dropout(output_dropout)
        self.bilinear = nn.Linear(2 * hidden_size, dim, bias=False)

    def user_forward(self, batch: dict) -> torch.Tensor:
        hist = batch["hist"]
        mask = hist > 0
        out, last = self.gru(self.dropout(self.items(hist)), mask)  # [B, L, H], [B, H]
        alpha = additive_scores(self.a1(out), self.a2(last), self.v.weight[0])  # [B, L]
        alpha = alpha * mask.to(alpha.dtype)
        local = torch.bmm(alpha.unsqueeze(1).to(out.dtype), out).squeeze(1)  # [B, H]
        return self.bilinear(self.out_dropout(torch.cat([last, local], dim=-1)))  # [B, D]

    def sequence_forward(self, batch: dict, positions=None) -> torch.Tensor:
        """The user vector after every prefix of each window, from one GRU pass: the
        state at ``t`` is the global part, attention over states ``j <= t`` driven by
        it the local part. The last position equals :meth:`user_forward`. Attention is
        computed for the asked ``positions`` only (sparse data: mostly padding)."""
        hist = batch["hist"]  # [W, L]
        mask = hist > 0
        out, _ = self.gru(self.dropout(self.items(hist)), mask)  # [W, L, H]
        every = positions is None
        # window and position of each of the P queries
        w, t = (torch.ones_like(mask) if every else positions).nonzero(as_tuple=True)
        query = out[w, t]  # [P, H], the global part
        keys = self.a1(out)[w]  # [P, L, H]
        alpha = additive_scores(keys, self.a2(query), self.v.weight[0])  # [P, L]
        alpha = alpha * causal_mask(mask)[w, t].to(out.dtype)  # states j <= t only
        local = torch.bmm(alpha.unsqueeze(1), out[w]).squeeze(1)  # [P, H]
        user = self.bilinear(self.out_dropout(torch.cat([query, local], dim=-1)))  # [P, D]
        return user.view(*mask.shape, -1) if every else user  # [W, L, D] or [P, D]


class STAMPModule(_ItemTable):
    """Short-term attention/memory priority (Liu et al. 2018)."""

    def __init__(self, n_item_codes, dim) -> None:
        super().__init__(n_item_codes, dim, std=0.002)
        self.w1 = nn.Linear(dim, dim, bias=False)
        self.w2 = nn.Linear(dim, dim, bias=False)
        self.w3 = nn.Linear(dim, dim, bias=True)
        self.w0 = nn.Linear(dim, 1, bias=False)
        self.mlp_a = nn.Linear(dim, dim)
        self.mlp_b = nn.Linear(dim, dim)

    def user_forward(self, batch: dict) -> torch.Tensor:
        hist = batch["hist"]
        mask = hist > 0
        table = self.items.weight
        count = mask.sum(1, keepdim=True).clamp_min(1).to(table.dtype)
        # (a lookup of its own: slicing x would cost a [B, L, D] gradient buffer)
        last = self.items(hist[:, -1])  # the most recent item (zeros for an empty history)
        x = self.items(hist)  # [B, L, D], zeros at padding
        memory = x.sum(1) / count  # [B, D]
        if self.training and table.shape[0] <= hist.numel():
            # w1 x_i as rows of the projected table: one [n_items, D] product instead
            # of one over all B x L history slots (when the catalogue is the smaller;
            # inference keeps one shape-independent graph, for export)
            keys = F.embedding(hist, self.w1(table), padding_idx=0)  # [B, L, D]
        else:
            keys = self.w1(x)
        alpha = additive_scores(keys, self.w2(last) + self.w3(memory), self.w0.weight[0])
        alpha = alpha * mask.to(alpha.dtype)  # [B, L]
        attended = torch.bmm(alpha.unsqueeze(1).to(x.dtype), x).squeeze(1)  # sum alpha_i x_i
        return torch.tanh(self.mlp_a(attended)) * torch.tanh(self.mlp_b(last))
