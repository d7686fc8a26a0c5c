"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the history."""

from __future__ import annotations

import os

import numpy as np
import torch

from skmatch.features import FeatureSpec
from skmatch.models._params import check_int, store_params
from skmatch.models.sequential._base import SequentialMatcher
from skmatch.nn.item_table import ITEM_STD, ItemTableModule
from skmatch.nn.protocol import Batch
from skmatch.nn.sequence import (
    ANCHORS,
    BLOCKS,
    FILTER_CUTOFF,
    FILTER_MIX,
    CausalSelfAttention,
)


class SASRecModule(ItemTableModule):
    """Causal self-attention over the embedded history; the last state is the user."""

    def __init__(self, n_item_codes, dim, n_heads, n_layers, dropout, max_len, item_features=(),
                 user_features=(), ff_dim=None, block="sasrec", anchor="last",
                 mix=FILTER_MIX, cutoff=FILTER_CUTOFF) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim, item_features=item_features,
                         user_features=user_features)  # fmt: skip
        # positions start on the scale of the sqrt(D)-scaled item rows (ITEM_STD * sqrt(D)),
        # not torch's N(0, 1), which drowned the items: +7% validation NDCG@10 on ML-100K
        # over 3 seeds (docs/benchmarks.md, "SASRec position init")
        self.encoder = CausalSelfAttention(
            dim, n_heads, n_layers, dropout, max_len, position_std=ITEM_STD * dim**0.5,
            ff_dim=ff_dim, block=block, anchor=anchor, mix=mix, cutoff=cutoff,
        )

    def sequence_forward(self, batch: Batch, positions=None) -> torch.Tensor:
        hist = batch.hist
        states = self.encoder(self.embed_items(hist), hist > 0)  # [B, L, D]
        states = states if positions is None else states[positions]  # [B, L, D] or [P, D]
        return self.add_user(states, batch, positions)

    def user_forward(self, batch: Batch) -> torch.Tensor:  # -> [B, D]
        return self.sequence_forward(batch)[:, -1]  # the most recent position


class SASRec(SequentialMatcher):
    """SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the history.

    Pre-layer-norm transformer blocks with learned positions (a window's newest item at
    the last position; in training, as in the paper, each slot keeps its position in
    the window; on dense data windows overlap by half, so that every target has half a
    window of context), causal and padding masks built on the model's device; the state at
    the last position is the user vector, scored against the item embeddings (shared
    with the input) by dot product, with a full softmax over the catalogue by default.
    By default each block mixes its attention with BSARec's causal frequency filter
    (``block="bsarec"``, Shin et al., AAAI 2024), with one head and BSARec's learning rate.

    Parameters
    ----------
    n_layers : int, default=2
        Transformer blocks.
    n_heads : int, default=1
        Attention heads (one, as in the SASRec and BSARec papers); must divide
        ``embed_dim``.
    hidden_size : int, optional
        Width of the feed-forward layers (when None: ``embed_dim`` for ``"sasrec"`` and
        ``"bsarec"`` blocks, as in the SASRec paper, and ``4 * embed_dim`` for
        ``"ligr"``; Torch-RecHub's and RecBole's ``inner_size``).
    block : {"sasrec", "ligr", "bsarec"}, default="bsarec"
        The transformer block. ``"sasrec"``: the paper's, pre-layer-norm with a GELU
        feed-forward. ``"ligr"``: the LiGR layer of eSASRec (Tikhonovich et al., RecSys
        2025), whose residual branches are gated by a sigmoid of the block's input and
        whose feed-forward is a SwiGLU. ``"bsarec"``: BSARec's layer (Shin et al., AAAI
        2024), the attention mixed with a Fourier low-pass filter of the history plus a
        learned share of its high frequencies; the filter is made causal (each position
        filters its own prefix, as the paper's last position does), so that every
        position still trains in one pass. The default, BSARec's, raised test NDCG@10
        on Amazon Beauty on each of three seeds (+3.1%) and matched the paper's block
        on MovieLens 100K (docs/benchmarks.md, "SASRec's default layer"); the paper's
        model is ``block="sasrec", learning_rate=1e-3``.
    filter_mix : float, optional
        ``block="bsarec"`` only: the frequency filter's weight against the attention
        (which gets ``1 - filter_mix``), in [0, 1] (BSARec's ``alpha``; 0.7 when None,
        the paper's value for Beauty).
    filter_cutoff : int, optional
        ``block="bsarec"`` only: the filter keeps the ``filter_cutoff // 2 + 1`` lowest
        frequencies of a ``max_seq_len`` window (BSARec's ``c``; 5 when None).
    position_anchor : {"last", "first"}, default="last"
        Where learned positions are counted from. ``"last"`` (the paper's): a window's
        newest slot is the last position, so a training state after ``t`` items sees
        them at other positions than the user vector of those ``t`` items would.
        ``"first"`` (RecBole's): a row's oldest item is position 0, so every training
        state is computed exactly as the user vector of its prefix.
    dropout : float or "auto", default="auto"
        Dropout on embeddings, attention and feed-forward layers. ``"auto"`` follows the
        paper: 0.5 on sparse data (users with fewer than 30 events on average, as
        Amazon reviews), 0.2 on dense data (as MovieLens).
    train_positions : {"all", "last"}, default="all"
        ``"all"``: every position of a history window predicts its next item, in one
        pass; ``"last"``: one example per interaction (its whole prefix).
    window_stride : int, "auto" or None, default="auto"
        With ``train_positions="all"``: the targets of a history window. Windows of
        ``max_seq_len`` items then overlap, and each trains its last ``window_stride``
        positions only, so that every target has at least ``max_seq_len -
        window_stride`` earlier items in its window when its user has them. None:
        disjoint windows, every position trained (the cheapest epoch); ``"auto"``: half
        the window (rounded up) when the training histories are longer than the window
        on average (dense data, where disjoint windows cut most of them), else None.
        The value used is ``window_stride_``.
        ``"auto"``, SASRec's default, costs up to twice the encoder's work of an
        epoch where it overlaps: on MovieLens 100K it gave +6.5% test NDCG@10 over
        three seeds (docs/benchmarks.md, "Overlapping windows for SASRec"); on Amazon
        Beauty (7 events per user) it keeps disjoint windows.
    negatives : str, default="all"
        A full softmax over the catalogue (see :class:`~skmatch.models.TorchMatcher`).
    learning_rate : float, default=5e-4
        Adam's learning rate: BSARec's, with its layer (the shared default is 1e-3).
    batch_size : int or "auto", default="auto"
        History windows per step: ``"auto"`` is 128, or fewer on small data so that an
        epoch has at least 50 steps (see :class:`~skmatch.models.TorchMatcher`).
    feature_spec, embed_dim, mode, n_negatives, temperature, logq_correction
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    weight_decay, embedding_l2, n_epochs, lr_schedule, clip_grad_norm
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    early_stopping, n_iter_no_change, validation_interval, device, amp, index, index_params, k
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : SASRecModule
    dropout_ : float
        The dropout rate used (``dropout="auto"`` resolved from the training data).
    window_stride_ : int or None
        The targets per training window (``window_stride="auto"`` resolved; None:
        disjoint windows).
    filter_mix_ : float or None
        The frequency filter's weight used (``block="bsarec"``; None for the other
        blocks). A model saved before ``filter_mix`` was BSARec's ``alpha`` has none and
        keeps the weighting it was trained with: ``1 - filter_mix`` on the filter.
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).

    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> from skmatch.models import SASRec
    >>> df = make_interactions(n_users=100, n_items=50, random_state=0)
    >>> model = SASRec(n_epochs=2, random_state=0).fit(df)
    >>> model.transform_users(["u1", "u2"]).shape
    (2, 64)
    """

    def __init__(
        self, *, n_layers: int = 2, n_heads: int = 1, hidden_size: int | None = None,
        block: str = "bsarec", filter_mix: float | None = None,
        filter_cutoff: int | None = None, position_anchor: str = "last",
        dropout: float | str = "auto",
        train_positions: str = "all", window_stride: int | str | None = "auto",
        feature_spec: FeatureSpec | None = None, embed_dim: int = 64, mode: str = "listwise",
        negatives: str = "all", n_negatives: int = 100, temperature: float = 1.0,
        logq_correction: bool = True, learning_rate: float = 5e-4, weight_decay: float = 0.0,
        embedding_l2: float = 0.0, batch_size: int | str = "auto", n_epochs: int = 200,
        lr_schedule: str | None = None, clip_grad_norm: float | None = None,
        early_stopping: bool = True, n_iter_no_change: int = 10,
        validation_interval: int | str = "auto", device: str = "auto",
        amp: str | bool = "auto", index: str = "auto", index_params: dict | None = None,
        k: int = 10, checkpoint_dir: str | os.PathLike | None = None, warm_start: bool = False,
        verbose: bool = False, random_state: int | np.random.Generator | None = None, **aliases,
    ) -> None:  # fmt: skip
        store_params(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_heads, "n_heads")
        if self.hidden_size is not None:
            check_int(self.hidden_size, "hidden_size")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {self.block!r}.")
        for name in ("filter_mix", "filter_cutoff"):
            if getattr(self, name) is not None and self.block != "bsarec":
                raise ValueError(f"{name} applies to block='bsarec' only (block={self.block!r}).")
        if self.filter_mix is not None and not 0.0 <= self.filter_mix <= 1.0:
            raise ValueError(f"filter_mix must be in [0, 1], got {self.filter_mix!r}.")
        if self.filter_cutoff is not None:
            check_int(self.filter_cutoff, "filter_cutoff")
        if self.position_anchor not in ANCHORS:
            raise ValueError(
                f"position_anchor must be one of {ANCHORS}, got {self.position_anchor!r}."
            )
        if self.embed_dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide embed_dim ({self.embed_dim}).")

    def _fit(self, inter, validation_data=None) -> None:
        self.filter_mix_ = self._filter_mix() if self.block == "bsarec" else None
        super()._fit(inter, validation_data)

    def _filter_mix(self) -> float:
        """The filter's weight: ``filter_mix`` (BSARec's ``alpha``), 0.7 when None."""
        return FILTER_MIX if self.filter_mix is None else float(self.filter_mix)

    def _fitted_filter_mix(self) -> float:
        """The filter's weight of the fitted network. A file saved before 2026-12-07's
        ninth session has no ``filter_mix_``: its ``filter_mix`` weighted the attention,
        so its filter keeps ``1 - filter_mix`` and its outputs stay as they were."""
        mix = getattr(self, "filter_mix_", None)
        return 1.0 - self._filter_mix() if mix is None else mix

    def _build_module(self) -> SASRecModule:
        return SASRecModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_heads,
            self.n_layers,
            self._dropout_rate(),
            self.feature_spec_.max_seq_len,
            item_features=self._feature_defs("item"),
            user_features=self._feature_defs("user"),
            ff_dim=self.hidden_size,
            block=self.block,
            anchor=self.position_anchor,
            mix=self._fitted_filter_mix() if self.block == "bsarec" else FILTER_MIX,
            cutoff=FILTER_CUTOFF if self.filter_cutoff is None else self.filter_cutoff,
        )
