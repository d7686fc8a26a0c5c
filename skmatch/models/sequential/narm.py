"""NARM (Li et al., CIKM 2017): neural attentive session-based recommendation."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from skmatch.features import FeatureSpec
from skmatch.models._params import check_dropout, check_int, store_params
from skmatch.models.sequential._base import SequentialMatcher
from skmatch.nn.additive import additive_scores, pairwise_additive_scores
from skmatch.nn.dropout import Dropout
from skmatch.nn.item_table import ItemTableModule, causal_mask
from skmatch.nn.protocol import Batch
from skmatch.nn.sequence import PackedGRU


class NARMModule(ItemTableModule):
    """A GRU's last state (global) and attention over its states (local), decoded
    bilinearly to ``dim``."""

    def __init__(self, n_item_codes, dim, hidden_size, n_layers, dropout, output_dropout,
                 item_features=(), user_features=()) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim, item_features=item_features,
                         user_features=user_features)  # fmt: skip
        self.dropout = Dropout(dropout)
        self.gru = PackedGRU(dim, hidden_size, n_layers)
        self.a1 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.a2 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)
        self.out_dropout = Dropout(output_dropout)
        self.bilinear = nn.Linear(2 * hidden_size, dim, bias=False)

    def user_forward(self, batch: Batch) -> torch.Tensor:  # -> [B, D]
        hist = batch.hist
        mask = hist > 0
        out, last = self.gru(self.dropout(self.embed_items(hist)), mask)  # [B, L, H], [B, H]
        alpha = additive_scores(self.a1(out), self.a2(last), self.v.weight[0])  # [B, L]
        alpha = alpha * mask.to(alpha.dtype)
        local = torch.bmm(alpha.unsqueeze(1).to(out.dtype), out).squeeze(1)  # [B, H]
        user = self.bilinear(self.out_dropout(torch.cat([last, local], dim=-1)))  # [B, D]
        return self.add_user(user, batch)

    def sequence_forward(self, batch: Batch, positions=None) -> torch.Tensor:
        """The user vector after every prefix of each window, from one GRU pass: the
        state at ``t`` is the global part, attention over states ``j <= t`` driven by
        it the local part (every pair at once, no gathers). The last position equals
        :meth:`user_forward`; only the asked ``positions`` are decoded."""
        hist = batch.hist  # [W, L]
        mask = hist > 0
        out, _ = self.gru(self.dropout(self.embed_items(hist)), mask)  # [W, L, H]
        alpha = pairwise_additive_scores(self.a1(out), self.a2(out), self.v.weight[0])
        alpha = alpha * causal_mask(mask).to(alpha.dtype)  # [W, T, L]: states j <= t only
        local = torch.bmm(alpha.to(out.dtype), out)  # [W, T, H]
        both = torch.cat([out, local], dim=-1)  # [W, L, 2H]
        both = both if positions is None else both[positions]  # [W, L, 2H] or [P, 2H]
        return self.add_user(self.bilinear(self.out_dropout(both)), batch, positions)


class NARM(SequentialMatcher):
    """NARM (Li et al., CIKM 2017): neural attentive session-based recommendation.

    A GRU encodes the history; the global representation is its last state, the local
    one an attention-weighted sum of its states (attention driven by the last state);
    a bilinear decoder maps both to ``embed_dim`` for the dot product with the item
    embeddings. With ``train_positions="all"`` one GRU pass over a history window gives
    the representation after every prefix (attention restricted to the states so far),
    and every position predicts its next item.

    Parameters
    ----------
    hidden_size : int, default=100
        Units of the GRU.
    n_layers : int, default=1
    dropout : float, default=0.25
        Dropout on the item embeddings.
    output_dropout : float, default=0.5
        Dropout before the bilinear decoder.
    train_positions : {"all", "last"}, default="all"
        History windows, or one example per interaction with its whole prefix (one
        GRU pass per example).
    window_stride : int, "auto" or None, default=None
        None (the default): disjoint windows, every position trained. An int trains
        overlapping windows on their last ``window_stride`` positions; ``"auto"`` is
        half the window on dense data (see :class:`~skmatch.models.SASRec`, whose
        default it is). Half windows gave NARM +6% and -16% on MovieLens 100K (two
        seeds).
    negatives : str, default="all"
        A full softmax over the catalogue (see :class:`~skmatch.models.TorchMatcher`).
    batch_size : int or "auto", default="auto"
        History windows per step: ``"auto"`` is 128, or fewer on small data so that an
        epoch has at least 50 steps (see :class:`~skmatch.models.TorchMatcher`).
    feature_spec, embed_dim, mode, n_negatives, temperature, logq_correction
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    learning_rate, weight_decay, embedding_l2, n_epochs, lr_schedule, clip_grad_norm
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    early_stopping, n_iter_no_change, validation_interval, device, amp, index, index_params, k
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : NARMModule
    window_stride_ : int or None
        The targets per training window (None: disjoint windows).
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).
    """

    def __init__(
        self, *, hidden_size: int = 100, n_layers: int = 1, dropout: float = 0.25,
        output_dropout: float = 0.5, train_positions: str = "all",
        window_stride: int | str | None = None,
        feature_spec: FeatureSpec | None = None, embed_dim: int = 64, mode: str = "listwise",
        negatives: str = "all", n_negatives: int = 100, temperature: float = 1.0,
        logq_correction: bool = True, learning_rate: float = 1e-3, weight_decay: float = 0.0,
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
        check_int(self.hidden_size, "hidden_size")
        check_dropout(self.output_dropout, "output_dropout")

    def _build_module(self) -> NARMModule:
        return NARMModule(
            self.n_item_codes_,
            self.embed_dim,
            self.hidden_size,
            self.n_layers,
            self._dropout_rate(),
            self.output_dropout,
            item_features=self._feature_defs("item"),
            user_features=self._feature_defs("user"),
        )
