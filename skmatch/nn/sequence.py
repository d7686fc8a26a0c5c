"""Sequence encoders over left-padded histories: GRU (packed) and causal self-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skmatch.nn.dropout import Dropout


def left_to_right(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move the last ``lengths[b]`` steps of each row to the front: ``[B, L, ...]``."""
    L = x.shape[1]
    idx = (torch.arange(L, device=x.device).unsqueeze(0) + (L - lengths).unsqueeze(1)) % L
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


def right_to_left(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`left_to_right`."""
    L = x.shape[1]
    idx = (torch.arange(L, device=x.device).unsqueeze(0) - (L - lengths).unsqueeze(1)) % L
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class PackedGRU(nn.Module):
    """A GRU over left-padded sequences that never lets padding enter its state.

    ``forward(x [B, L, D_in], mask [B, L]) -> (outputs [B, L, H], last [B, H])``; outputs
    are left-aligned like the input and zero at padding; ``last`` is zero for empty rows.
    Each row is shifted so that its items come first and its padding last: the GRU then
    reads the items before any padding, so the states at item positions (and the state
    after the last item) are exactly those of the unpadded sequence. This runs the fused
    full-length GRU kernel, faster on CPU than ``pack_padded_sequence``.
    """

    def __init__(self, in_dim: int, hidden: int, n_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.gru = nn.GRU(
            in_dim, hidden, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        lengths = mask.sum(1)  # [B]
        out, _ = self.gru(left_to_right(x, lengths))  # [B, L, H], items first
        last_idx = (lengths - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        nonempty = (lengths > 0).unsqueeze(-1).to(out.dtype)
        last = out.gather(1, last_idx).squeeze(1) * nonempty  # [B, H]
        out = right_to_left(out, lengths) * mask.unsqueeze(-1).to(out.dtype)
        return out, last


class CausalSelfAttention(nn.Module):
    """Pre-LN transformer blocks with causal, padding-aware attention (SASRec).

    Parameters
    ----------
    dim, n_heads, n_layers : int
    dropout : float
    max_len : int
        Learned positions; the most recent item is at position ``max_len - 1``.
    position_std : float, default 1.0
        Standard deviation of the positions' normal initialisation (torch's default 1).
    ff_dim : int, optional
        Width of the feed-forward layers (``dim`` when None, as in the paper).
    """

    def __init__(self, dim: int, n_heads: int, n_layers: int, dropout: float, max_len: int,
                 position_std: float = 1.0, ff_dim: int | None = None):  # fmt: skip
        super().__init__()
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=position_std)
        self.dropout = Dropout(dropout)
        self.n_heads = n_heads
        self.attn_norm = nn.ModuleList([nn.LayerNorm(dim) for _ in range(n_layers)])
        self.qkv = nn.ModuleList([nn.Linear(dim, 3 * dim) for _ in range(n_layers)])
        self.proj = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n_layers)])
        self.ff_norm = nn.ModuleList([nn.LayerNorm(dim) for _ in range(n_layers)])
        ff = ff_dim or dim
        self.ff = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(dim, ff), nn.GELU(), Dropout(dropout), nn.Linear(ff, dim))
                for _ in range(n_layers)
            ]
        )
        self.final_norm = nn.LayerNorm(dim)
        self.attn_drop = Dropout(dropout)  # on the attention weights

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape  # [B, L, D]
        pos = torch.arange(L, device=x.device) + (self.positions.num_embeddings - L)
        h = self.dropout(x * (D**0.5) + self.positions(pos).unsqueeze(0))
        h = h * mask.unsqueeze(-1).to(h.dtype)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        allowed = causal.unsqueeze(0) & mask.unsqueeze(1)  # [B, L(query), L(key)]
        allowed = allowed | torch.eye(L, dtype=torch.bool, device=x.device)  # never empty
        allowed = allowed.unsqueeze(1)  # [B, 1, L, L]
        heads = self.n_heads
        # CPU training with attention dropout: the attention written out, so that its
        # dropout draws the cheap mask (SDPA's CPU dropout uses bernoulli_)
        p = self.attn_drop.p if self.training else 0.0
        by_hand = p > 0 and x.device.type == "cpu"
        if by_hand:
            bias = torch.zeros(allowed.shape, dtype=h.dtype, device=x.device)
            bias.masked_fill_(~allowed, float("-inf"))  # [B, 1, L, L], shared by the blocks
        for norm, qkv, proj, ff_norm, ff in zip(
            self.attn_norm, self.qkv, self.proj, self.ff_norm, self.ff, strict=True
        ):
            q, k, v = qkv(norm(h)).view(B, L, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
            if by_hand:
                scores = torch.matmul(q, k.transpose(-2, -1)).mul_((D // heads) ** -0.5)
                att = torch.matmul(self.attn_drop(torch.softmax(scores + bias, -1)), v)
            else:
                att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
            h = h + self.dropout(proj(att.transpose(1, 2).reshape(B, L, D)))
            h = h + self.dropout(ff(ff_norm(h)))
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return self.final_norm(h)
