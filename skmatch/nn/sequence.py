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


class SwiGLU(nn.Module):
    """Gated feed-forward ``down(silu(gate(x)) * up(x))`` without biases (Shazeer, 2020),
    the feed-forward of the LiGR block: ``[..., D] -> [..., D]``."""

    def __init__(self, dim: int, width: int, dropout: float) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, width, bias=False)
        self.up = nn.Linear(dim, width, bias=False)
        self.down = nn.Linear(width, dim, bias=False)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.dropout(F.silu(self.gate(x)) * self.up(x)))


BLOCKS = ("sasrec", "ligr", "bsarec")
ANCHORS = ("last", "first")  # where a window's positions are counted from
FILTER_MIX, FILTER_CUTOFF = 0.7, 5  # BSARec's alpha and c for Beauty (its paper's settings)


class CausalSelfAttention(nn.Module):
    """Pre-LN transformer blocks with causal, padding-aware attention (SASRec).

    Parameters
    ----------
    dim, n_heads, n_layers : int
    dropout : float
    max_len : int
        Number of learned positions.
    position_std : float, default 1.0
        Standard deviation of the positions' normal initialisation (torch's default 1).
    ff_dim : int, optional
        Width of the feed-forward layers (``dim`` for ``"sasrec"`` blocks, as in the
        paper; ``4 * dim`` for ``"ligr"``).
    block : {"sasrec", "ligr"}, default "sasrec"
        ``"sasrec"``: ``h + attn(norm(h))``, then ``h + ff(norm(h))`` with a GELU
        feed-forward. ``"ligr"`` (LinkedIn's LiGR layer, the block of eSASRec): each
        residual branch is gated by ``sigmoid(linear(h))`` of the block's un-normalised
        input, and the feed-forward is a bias-free SwiGLU.
    mix, cutoff : float, int, default 0.7, 5
        ``"bsarec"`` blocks only: the weight of the frequency filter against the
        attention branch (which gets ``1 - mix``), and the filter's ``c`` (BSARec's
        ``alpha`` and ``c``).
    anchor : {"last", "first"}, default "last"
        ``"last"`` (the paper's): the newest slot of the window is position
        ``max_len - 1`` and a short history sits at the end of the table. ``"first"``:
        a row's oldest item is position 0 and its ``t``-th item position ``t - 1``, so
        the state after ``t`` items is computed alike in a training window and at
        inference (where that prefix is the whole window).
    """

    def __init__(self, dim: int, n_heads: int, n_layers: int, dropout: float, max_len: int,
                 position_std: float = 1.0, ff_dim: int | None = None,
                 block: str = "sasrec", anchor: str = "last", mix: float = FILTER_MIX,
                 cutoff: int = FILTER_CUTOFF) -> None:  # fmt: skip
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}.")
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}.")
        self.anchor = anchor
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=position_std)
        self.dropout = Dropout(dropout)
        self.n_heads = n_heads
        self.attn_norm = nn.ModuleList([nn.LayerNorm(dim) for _ in range(n_layers)])
        self.qkv = nn.ModuleList([nn.Linear(dim, 3 * dim) for _ in range(n_layers)])
        self.proj = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n_layers)])
        self.ff_norm = nn.ModuleList([nn.LayerNorm(dim) for _ in range(n_layers)])
        self.ff = nn.ModuleList(
            [_feed_forward(dim, ff_dim, dropout, block) for _ in range(n_layers)]
        )
        # LiGR's gates: one per residual branch, sigmoid(linear(h)) of the branch's input
        gated = block == "ligr"
        self.attn_gate = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n_layers * gated)])
        self.ff_gate = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n_layers * gated)])
        # BSARec's frequency filter: a causal low-pass operator and a learned high-pass scale
        filtered = block == "bsarec"
        self.mix = mix
        self.sqrt_beta = nn.ParameterList(
            [nn.Parameter(torch.randn(dim)) for _ in range(n_layers * filtered)]
        )
        if filtered:
            self.register_buffer("low_pass", causal_low_pass(max_len, cutoff), persistent=False)
        self.final_norm = nn.LayerNorm(dim)
        self.attn_drop = Dropout(dropout)  # on the attention weights

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape  # [B, L, D]
        if self.anchor == "first":
            pos = (mask.to(torch.long).cumsum(1) - 1).clamp_(min=0)  # [B, L]
            where = self.positions(pos)  # [B, L, D]
        else:
            pos = torch.arange(L, device=x.device) + (self.positions.num_embeddings - L)
            where = self.positions(pos).unsqueeze(0)  # [1, L, D]
        h = self.dropout(x * (D**0.5) + where)
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
        for i in range(len(self.qkv)):
            normed = self.attn_norm[i](h)
            qkv = self.qkv[i](normed).view(B, L, 3, heads, D // heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, H, L, D / H]
            if by_hand:
                scores = torch.matmul(q, k.transpose(-2, -1)).mul_((D // heads) ** -0.5)
                att = torch.matmul(self.attn_drop(torch.softmax(scores + bias, -1)), v)
            else:
                att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
            att = self.dropout(self.proj[i](att.transpose(1, 2).reshape(B, L, D)))
            if self.sqrt_beta:  # BSARec: attention mixed with the frequency filter
                filtered = self.dropout(self._filter(normed, mask, i))
                att = self.mix * filtered + (1 - self.mix) * att
            h = h + (att * torch.sigmoid(self.attn_gate[i](h)) if self.attn_gate else att)
            ff = self.dropout(self.ff[i](self.ff_norm[i](h)))
            h = h + (ff * torch.sigmoid(self.ff_gate[i](h)) if self.ff_gate else ff)
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return self.final_norm(h)

    def _filter(self, normed: torch.Tensor, mask: torch.Tensor, i: int) -> torch.Tensor:
        """BSARec's filter branch of block ``i``: ``low + beta**2 * (x - low)``, x the
        block's normalised input with padding zeroed: ``[B, L, D] -> [B, L, D]``."""
        L = normed.shape[1]
        x = normed * mask.unsqueeze(-1).to(normed.dtype)
        low = torch.matmul(self.low_pass[:L, :L].to(x.dtype), x)  # [L, L] @ [B, L, D]
        return low + self.sqrt_beta[i].square() * (x - low)


def causal_low_pass(max_len: int, cutoff: int) -> torch.Tensor:
    """BSARec's low-pass filter, made causal: ``[max_len, max_len]``, lower triangular.

    BSARec keeps the ``cutoff // 2 + 1`` lowest frequencies of the real FFT of a window of
    ``max_len`` (orthonormal). Row ``t`` of the result applies to a history ending at
    ``t`` the filter that the window's last position gets when that history is the whole
    (left-padded) window: ``low[t] = sum_k f[k] x[t - k]``, with ``f`` the filter's row
    for the last position. So the state at ``t`` is that of its prefix, as in any causal
    block, and every position of a window can be trained in one pass.
    """
    if cutoff < 1:
        raise ValueError(f"cutoff must be >= 1, got {cutoff}.")
    spectrum = torch.fft.rfft(torch.eye(max_len, dtype=torch.float64), dim=0, norm="ortho")
    spectrum[cutoff // 2 + 1 :] = 0
    full = torch.fft.irfft(spectrum, n=max_len, dim=0, norm="ortho")  # low = full @ x
    kernel = full[max_len - 1].flip(0)  # f[k]: the weight of x[t - k] at t
    lag = torch.arange(max_len).unsqueeze(1) - torch.arange(max_len).unsqueeze(0)  # t - j
    return torch.where(lag >= 0, kernel[lag.clamp(min=0)], 0.0).to(torch.float32)


def _feed_forward(dim: int, width: int | None, dropout: float, block: str) -> nn.Module:
    """The position-wise feed-forward of one block: GELU (SASRec) or SwiGLU (LiGR)."""
    if block == "ligr":
        return SwiGLU(dim, width or 4 * dim, dropout)
    width = width or dim
    return nn.Sequential(nn.Linear(dim, width), nn.GELU(), Dropout(dropout), nn.Linear(width, dim))
