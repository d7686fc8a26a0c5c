"""STAMP (Liu et al., KDD 2018): short-term attention/memory priority."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skmatch.features import FeatureSpec
from skmatch.models._params import check_dropout, store_params
from skmatch.models.neural import TorchMatcher
from skmatch.nn.additive import additive_scores
from skmatch.nn.dropout import Dropout
from skmatch.nn.item_table import ItemTableModule
from skmatch.nn.protocol import Batch


class STAMPModule(ItemTableModule):
    """Attention over the history driven by the last item and the history mean; the
    user vector is the product of two MLPs over the attended memory and the last item."""

    def __init__(self, n_item_codes, dim, dropout=0.0, item_features=(), user_features=()):
        super().__init__(n_item_codes, dim, std=0.002, item_features=item_features,
                         user_features=user_features)  # fmt: skip
        self.dropout = Dropout(dropout)
        self.w1 = nn.Linear(dim, dim, bias=False)
        self.w2 = nn.Linear(dim, dim, bias=False)
        self.w3 = nn.Linear(dim, dim, bias=True)
        self.w0 = nn.Linear(dim, 1, bias=False)
        self.mlp_a = nn.Linear(dim, dim)
        self.mlp_b = nn.Linear(dim, dim)

    def user_forward(self, batch: Batch) -> torch.Tensor:  # -> [B, D]
        hist = batch.hist
        mask = hist > 0
        project = self.training and self.n_item_codes <= hist.numel()  # see below
        if self.has_item_features and project:  # every item's id row and features once
            table = self.all_items(0)  # [n_codes, D], row 0 (padding) zero
            last, x = F.embedding(hist[:, -1], table), F.embedding(hist, table)
        elif self.has_item_features:
            table = self.items.weight
            last, x = self.embed_items(hist[:, -1]), self.embed_items(hist)
        else:
            table = self.items.weight
            # (a lookup of its own: slicing x would cost a [B, L, D] gradient buffer)
            last = self.items(hist[:, -1])  # the most recent item (zeros for an empty history)
            x = self.items(hist)  # [B, L, D], zeros at padding
        last, x = self.dropout(last), self.dropout(x)
        count = mask.sum(1, keepdim=True).clamp_min(1).to(table.dtype)
        memory = x.sum(1) / count  # [B, D]
        if project:
            # w1 x_i as rows of the projected table: one [n_items, D] product instead
            # of one over all B x L history slots (when the catalogue is the smaller;
            # inference keeps one shape-independent graph, for export)
            keys = F.embedding(hist, self.w1(table), padding_idx=0)  # [B, L, D]
        else:
            keys = self.w1(x)
        alpha = additive_scores(keys, self.w2(last) + self.w3(memory), self.w0.weight[0])
        alpha = alpha * mask.to(alpha.dtype)  # [B, L]
        attended = torch.bmm(alpha.unsqueeze(1).to(x.dtype), x).squeeze(1)  # sum alpha_i x_i
        user = torch.tanh(self.mlp_a(attended)) * torch.tanh(self.mlp_b(last))  # [B, D]
        return self.add_user(user, batch)


class STAMP(TorchMatcher):
    """STAMP (Liu et al., KDD 2018): short-term attention/memory priority.

    The user vector is the element-wise product of two MLP outputs: one over the
    attention-weighted history (attention driven by each item, the last item and the
    history mean), one over the last item, the short-term memory. Trained on every
    interaction with its whole prefix as input, with a full softmax over the catalogue
    by default. New users are embedded from a DataFrame of their interactions.

    Parameters
    ----------
    dropout : float, default=0.0
        Dropout on the history's item embeddings (the paper has none: 0 is its model).
    negatives : str, default="all"
        A full softmax over the catalogue (see :class:`~skmatch.models.TorchMatcher`).
    feature_spec, embed_dim, mode, n_negatives, temperature, logq_correction
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    learning_rate : float, default=2e-3
        Adam's learning rate: twice the other models', because the item table starts
        from the paper's small ``N(0, 0.002)`` (the product of two MLP outputs and the
        item vector learns slowly from there). Chosen on ML-100K (NDCG@10 .0925 -> .0981),
        checked on Amazon Beauty (.0348 -> .0383); see ``docs/benchmarks.md``.
    weight_decay, embedding_l2, batch_size, n_epochs, lr_schedule
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    clip_grad_norm, early_stopping, n_iter_no_change, validation_interval, device, amp
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    index, index_params, k, checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : STAMPModule
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).
    """

    def __init__(
        self, *, dropout: float = 0.0, feature_spec: FeatureSpec | None = None,
        embed_dim: int = 64, mode: str = "listwise", negatives: str = "all",
        n_negatives: int = 100, temperature: float = 1.0, logq_correction: bool = True,
        learning_rate: float = 2e-3, weight_decay: float = 0.0, embedding_l2: float = 0.0,
        batch_size: int = 256, n_epochs: int = 100, lr_schedule: str | None = None,
        clip_grad_norm: float | None = None, early_stopping: bool = True,
        n_iter_no_change: int = 10,
        validation_interval: int | str = "auto", device: str = "auto", amp: str | bool = "auto",
        index: str = "auto", index_params: dict | None = None, k: int = 10,
        checkpoint_dir: str | os.PathLike | None = None, warm_start: bool = False,
        verbose: bool = False, random_state: int | np.random.Generator | None = None, **aliases,
    ) -> None:  # fmt: skip
        store_params(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        check_dropout(self.dropout)

    def _build_module(self) -> STAMPModule:
        return STAMPModule(
            self.n_item_codes_, self.embed_dim, self.dropout,
            item_features=self._feature_defs("item"), user_features=self._feature_defs("user"),
        )  # fmt: skip
