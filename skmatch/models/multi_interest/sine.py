"""SINE (Tan et al., WSDM 2021): Sparse-Interest Network."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skmatch.features import FeatureSpec
from skmatch.models._params import check_choice, check_float, check_int, store_params
from skmatch.models.multi_interest._base import MultiInterestMatcher, MultiInterestModule
from skmatch.nn.interests import masked_softmax
from skmatch.nn.protocol import Batch


class SINEModule(MultiInterestModule):
    """A pool of concepts; each user activates the ``K`` closest to a self-attentive
    summary of the history, items are softly assigned to them, and each interest is the
    layer-normalised sum of the items under both weights. Training aggregates the
    interests by the predicted intention; ``aggregated=True`` retrieves with that one
    vector (``[B, D]``) too. A penalty on the concepts' covariance pushes them apart."""

    def __init__(self, n_item_codes, dim, n_interests, n_concepts, max_len, tau, reg_weight,
                 aggregated, dropout=0.0, item_features=(), user_features=()) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim, dropout, item_features, user_features)
        self.n_interests, self.tau, self.reg_weight = n_interests, tau, reg_weight
        self.aggregated = aggregated
        self.concepts = nn.Parameter(torch.empty(n_concepts, dim))
        nn.init.normal_(self.concepts, std=(1.0 / dim) ** 0.5)
        self.positions = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.positions, std=0.02)
        self.pool_w1 = nn.Linear(dim, dim)  # concept activation (self-attentive pooling)
        self.pool_w2 = nn.Linear(dim, 1, bias=False)
        self.assign = nn.Linear(dim, dim, bias=False)  # intention assignment
        self.ln_items, self.ln_concepts = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att_w1 = nn.Linear(dim, dim)  # attention weighting, one head per interest
        self.att_w2 = nn.Linear(dim, n_interests, bias=False)
        self.ln_interests = nn.LayerNorm(dim)
        self.agg_w1 = nn.Linear(dim, dim)  # interest aggregation
        self.agg_w2 = nn.Linear(dim, 1, bias=False)
        self.ln_intention = nn.LayerNorm(dim)

    def _projections(self, hist: torch.Tensor, x: torch.Tensor):
        """What SINE computes from each history slot: the concept-activation score
        ``pool_w2(tanh(pool_w1(x)))`` ``[B, L]``, the assignment keys
        ``ln_items(assign(x))`` and ``att_w1(x + positions)`` ``[B, L, D]``.

        The first two depend on the item alone. In training without dropout, when the
        catalogue has no more codes than the batch has history slots, they are computed
        once per item of the table and gathered, and ``att_w1`` is applied to the table
        and its rows gathered (the position term added after): the same values (up to
        float rounding) for a fraction of the ``B x L`` products, activations and norms."""
        pos = self.positions[-x.shape[1] :]
        if not (self.training and self.dropout.p == 0.0 and self.n_item_codes <= hist.numel()):
            pool = self.pool_w2(torch.tanh(self.pool_w1(x))).squeeze(-1)
            return pool, self.ln_items(self.assign(x)), self.att_w1(x + pos)
        table = self.all_items(0)  # [n_codes, D]: a view of the id table without features
        # padding_idx: row 0 (padding) gets no gradient; its slots are masked out anyway
        pool = self.pool_w2(torch.tanh(self.pool_w1(table)))  # [n_codes, 1]
        pool = F.embedding(hist, pool, padding_idx=0).squeeze(-1)  # [B, L]
        assign = F.embedding(hist, self.ln_items(self.assign(table)), padding_idx=0)
        att = F.embedding(hist, table @ self.att_w1.weight.T, padding_idx=0)
        return pool, assign, att + self.att_w1(pos)

    def _encode(self, batch: Batch):
        hist = batch.hist
        mask = hist > 0  # [B, L]
        x = self.history(hist)  # [B, L, D]
        pool, assign, att = self._projections(hist, x)
        # concept activation: the K concepts closest to the pooled history
        a = masked_softmax(pool, mask)  # [B, L]
        s = torch.bmm(a.unsqueeze(1), x).squeeze(1) @ self.concepts.T  # [B, C]
        top, idx = s.topk(self.n_interests, dim=1)  # [B, K]
        # F.embedding, not concepts[idx]: its CPU backward is deterministic (index_put_ with
        # accumulation is not under several threads)
        cu = F.embedding(idx, self.concepts) * torch.sigmoid(top).unsqueeze(-1)  # [B, K, D]
        # intention assignment P(k | t): each item to the activated concepts
        p_kt = torch.softmax(assign @ self.ln_concepts(cu).transpose(1, 2), dim=-1)  # [B, L, K]
        # attention weighting P(t | k): each concept over the history
        h = self.att_w2(torch.tanh(att))  # [B, L, K]
        p_tk = masked_softmax(h, mask.unsqueeze(-1), dim=1)  # [B, L, K]
        phi = self.ln_interests((p_kt * p_tk).transpose(1, 2) @ x)  # [B, K, D]
        phi = self.add_user(phi, batch)
        return phi, p_kt, cu, mask

    def interests(self, batch: Batch):
        return self._encode(batch)[0], None

    def user_forward(self, batch: Batch) -> torch.Tensor:
        if self.aggregated:
            return self.train_user(batch, None)  # [B, D]
        return super().user_forward(batch)  # [B, K, D]

    def train_user(self, batch: Batch, target) -> torch.Tensor:  # the intention is predicted
        phi, p_kt, cu, mask = self._encode(batch)
        # the intention sequence is xhat = p_kt @ cu [B, L, D]; it is never formed:
        # agg_w1(xhat) = p_kt @ agg_w1(cu) (K rows projected, not L) and the b-weighted
        # sum of xhat is (b p_kt) @ cu
        pre = torch.baddbmm(self.agg_w1.bias, p_kt, cu @ self.agg_w1.weight.T)  # [B, L, D]
        b = masked_softmax(self.agg_w2(torch.tanh(pre)).squeeze(-1), mask)  # [B, L]
        intention = self.ln_intention(torch.bmm(torch.bmm(b.unsqueeze(1), p_kt), cu).squeeze(1))
        e = torch.softmax((phi @ intention.unsqueeze(-1)).squeeze(-1) / self.tau, dim=1)
        return (e.unsqueeze(-1) * phi).sum(1)  # [B, D]

    def regularization(self):
        if self.reg_weight == 0:
            return 0.0
        # covariance between the concepts (over the embedding dimensions), Eq. 10
        c = self.concepts - self.concepts.mean(1, keepdim=True)
        cov = c @ c.T / c.shape[1]  # [C, C]
        return self.reg_weight * 0.5 * (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum())


class SINE(MultiInterestMatcher):
    """SINE (Tan et al., WSDM 2021): Sparse-Interest Network.

    A pool of ``n_concepts`` learned concepts; each user activates the ``n_interests``
    closest to a self-attentive summary of the history. Items are softly assigned to
    the active concepts (intention assignment), each concept attends over the history
    (attention weighting), and each interest is the layer-normalised sum of the items
    under both weights. Training scores the target against the interests aggregated by
    the predicted current intention; a penalty on the covariance between concepts pushes
    them apart (Eq. 10). Retrieval merges the interests' results
    (see :class:`~skmatch.models.multi_interest._base.MultiInterestMatcher`).

    Parameters
    ----------
    n_interests : int, default=4
    dropout : float or "auto", default=0.0
        Dropout on the history's item vectors; ``"auto"`` as for
        :class:`~skmatch.models.ComirecDR` (resolved in ``fit`` into ``dropout_``).
    n_concepts : int, default=50
        Size of the concept pool (>= ``n_interests``).
    aggregation_temperature : float, default=0.1
        The paper's ``tau``.
    covariance_weight : float, default=0.1
        The paper's ``lambda`` on the concept covariance penalty.
    retrieval : {"interests", "aggregated"}, default="interests"
        Retrieve with the interests, merged (the family's contract), or with the one
        vector the paper predicts with (then :meth:`transform_users` is 2-D).
    diversity : float, default=0.0
    category_feature : str, optional
        As in :class:`ComirecDR`.
    negatives : str, default="all"
    feature_spec, embed_dim, mode, n_negatives, temperature, logq_correction
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    learning_rate, weight_decay, embedding_l2, batch_size, n_epochs, lr_schedule
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    clip_grad_norm, early_stopping, n_iter_no_change, validation_interval, device, amp
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    index, index_params, k, checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    """

    def __init__(
        self, *, n_interests: int = 4, dropout: float | str = 0.0, n_concepts: int = 50,
        aggregation_temperature: float = 0.1, covariance_weight: float = 0.1,
        retrieval: str = "interests", diversity: float = 0.0, category_feature: str | None = None,
        feature_spec: FeatureSpec | None = None, embed_dim: int = 64, mode: str = "listwise",
        negatives: str = "all", n_negatives: int = 100, temperature: float = 1.0,
        logq_correction: bool = True, learning_rate: float = 1e-3, weight_decay: float = 0.0,
        embedding_l2: float = 0.0, batch_size: int = 256, n_epochs: int = 100,
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
        check_int(self.n_concepts, "n_concepts")
        check_float(self.aggregation_temperature, "aggregation_temperature", strict=True)
        check_float(self.covariance_weight, "covariance_weight")
        check_choice(self.retrieval, "retrieval", ("interests", "aggregated"))
        if self.n_concepts < self.n_interests:
            raise ValueError(
                f"n_concepts ({self.n_concepts}) must be >= n_interests ({self.n_interests})."
            )

    def _build_module(self) -> SINEModule:
        return SINEModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_interests,
            self.n_concepts,
            self.feature_spec_.max_seq_len,
            float(self.aggregation_temperature),
            float(self.covariance_weight),
            self.retrieval == "aggregated",
            self._dropout_rate(),
            self._feature_defs("item"),
            self._feature_defs("user"),
        )
