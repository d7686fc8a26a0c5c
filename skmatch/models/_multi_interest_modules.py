"""Torch modules of the multi-interest family: MIND, ComiRec-DR, ComiRec-SA, SINE.

Every module embeds items with one table (the item tower), reads left-padded histories
``batch["hist"]`` ``[B, L]`` and gives ``user_forward(batch) -> [B, K, D]`` (the interests
used for retrieval) and ``train_user(batch, target) -> [B, D]`` (the one user vector the
training loss scores: the interests combined for the target item, or by the model's own
rule), plus ``regularization() -> scalar``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skmatch.models._sequential_modules import _ItemTable
from skmatch.nn.interests import (
    CapsuleRouting,
    SelfAttentiveInterests,
    label_aware_attention,
    masked_softmax,
)
from skmatch.nn.mlp import MLP
from skmatch.nn.towers import UserFeatureEncoder


class _MultiInterest(_ItemTable):
    power: float = float("inf")  # hard selection of the best interest (ComiRec)

    def interests(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Interests ``[B, K, D]`` and which of them are active (``None``: all)."""
        raise NotImplementedError  # pragma: no cover

    def user_forward(self, batch: dict) -> torch.Tensor:
        v, active = self.interests(batch)
        if active is None:
            return v
        # inactive interests repeat the first one: same merged ranking, fixed shape
        return torch.where(active.unsqueeze(-1), v, v[:, :1].expand_as(v))

    def train_user(self, batch: dict, target: torch.Tensor) -> torch.Tensor:
        v, active = self.interests(batch)
        return label_aware_attention(v, target, self.power, active)

    def regularization(self) -> torch.Tensor | float:
        return 0.0


class MINDModule(_MultiInterest):
    """Multi-Interest Network with Dynamic routing (Li et al., CIKM 2019).

    Behaviour-to-interest routing with a shared bilinear map; each capsule, concatenated
    with the user's profile embedding, goes through ReLU layers. A user with ``n`` items
    has ``max(1, min(K, floor(log2 n)))`` active interests.
    """

    def __init__(self, n_item_codes, dim, n_interests, max_len, routing_iters, user_features,
                 hidden_dims, power, dynamic) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim)
        self.routing = CapsuleRouting(dim, n_interests, max_len, routing_iters, "shared")
        # the profile joins the capsules in the ReLU layers; without them it is unused, so
        # no table is built (DistributedDataParallel refuses parameters without gradients)
        self.user_features = UserFeatureEncoder(dim, user_features if hidden_dims else ())
        in_dim = dim + self.user_features.out_dim
        self.mlp = MLP(in_dim, [*hidden_dims, dim], 0.0) if hidden_dims else None
        self.power, self.dynamic, self.n_interests = power, dynamic, n_interests

    def interests(self, batch):
        hist = batch["hist"]
        mask = hist > 0
        active = None
        if self.dynamic:  # K'_u = max(1, min(K, floor(log2 n))): routing over K'_u capsules
            n = mask.sum(1).clamp_min(1).to(torch.float32)
            n_active = torch.log2(n).floor().clamp(1, self.n_interests)  # [B]
            active = torch.arange(self.n_interests, device=hist.device) < n_active.unsqueeze(1)
        v = self.routing(self.items(hist), mask, active)  # [B, K, D]
        if self.mlp is not None:
            feats = self.user_features({n: batch[f"user:{n}"] for n in self.user_features.features})
            if feats is not None:
                v = torch.cat([v, feats.unsqueeze(1).expand(-1, v.shape[1], -1)], dim=-1)
            v = self.mlp(v)
        return v, active


class ComirecDRModule(_MultiInterest):
    """ComiRec-DR (Cen et al., KDD 2020): dynamic routing with per-position maps."""

    def __init__(self, n_item_codes, dim, n_interests, max_len, routing_iters) -> None:
        super().__init__(n_item_codes, dim)
        self.routing = CapsuleRouting(dim, n_interests, max_len, routing_iters, "per_position")

    def interests(self, batch):
        hist = batch["hist"]
        return self.routing(self.items(hist), hist > 0), None


class ComirecSAModule(_MultiInterest):
    """ComiRec-SA (Cen et al., KDD 2020): self-attentive multi-interest extraction."""

    def __init__(self, n_item_codes, dim, n_interests, max_len, hidden) -> None:
        super().__init__(n_item_codes, dim)
        self.extract = SelfAttentiveInterests(dim, n_interests, max_len, hidden)

    def interests(self, batch):
        hist = batch["hist"]
        return self.extract(self.items(hist), hist > 0), None


class SINEModule(_MultiInterest):
    """Sparse-Interest Network (Tan et al., WSDM 2021).

    A pool of ``n_concepts`` concept prototypes; each user activates the ``K`` concepts
    closest to a self-attentive summary of the history (gated by their sigmoid scores);
    every item is softly assigned to the activated concepts (intention assignment), each
    concept attends over the history (attention weighting), and the interest is the
    layer-normalised sum of the items under both weights. Training scores the interests
    aggregated by the predicted current intention (``softmax(<phi_k, c> / tau)``); the
    concepts are pushed apart by a penalty on their covariance. ``aggregated=True``
    retrieves with that aggregated vector too (``[B, D]``) instead of the interests.
    """

    def __init__(
        self, n_item_codes, dim, n_interests, n_concepts, max_len, tau, reg_weight, aggregated
    ) -> None:
        super().__init__(n_item_codes, dim)
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

    def _encode(self, batch):
        hist = batch["hist"]
        mask = hist > 0  # [B, L]
        x = self.items(hist)  # [B, L, D]
        # concept activation: the K concepts closest to the pooled history
        a = masked_softmax(self.pool_w2(torch.tanh(self.pool_w1(x))).squeeze(-1), mask)  # [B, L]
        z = (a.unsqueeze(-1) * x).sum(1)  # [B, D]
        s = z @ self.concepts.T  # [B, C]
        top, idx = s.topk(self.n_interests, dim=1)  # [B, K]
        # F.embedding, not concepts[idx]: its CPU backward is deterministic (index_put_ with
        # accumulation is not under several threads)
        cu = F.embedding(idx, self.concepts) * torch.sigmoid(top).unsqueeze(-1)  # [B, K, D]
        # intention assignment P(k | t): each item to the activated concepts
        p_kt = torch.softmax(
            self.ln_items(self.assign(x)) @ self.ln_concepts(cu).transpose(1, 2), dim=-1
        )  # [B, L, K]
        # attention weighting P(t | k): each concept over the history
        L = x.shape[1]
        h = self.att_w2(torch.tanh(self.att_w1(x + self.positions[-L:])))  # [B, L, K]
        p_tk = masked_softmax(h, mask.unsqueeze(-1), dim=1)  # [B, L, K]
        phi = self.ln_interests((p_kt * p_tk).transpose(1, 2) @ x)  # [B, K, D]
        return phi, p_kt, cu, mask

    def interests(self, batch):
        return self._encode(batch)[0], None

    def user_forward(self, batch):
        if self.aggregated:
            return self.train_user(batch, None)  # [B, D]
        return super().user_forward(batch)  # [B, K, D]

    def train_user(self, batch, target):  # the target is not used: the intention is predicted
        phi, p_kt, cu, mask = self._encode(batch)
        xhat = p_kt @ cu  # [B, L, D]: the intention sequence
        b = masked_softmax(self.agg_w2(torch.tanh(self.agg_w1(xhat))).squeeze(-1), mask)
        intention = self.ln_intention((b.unsqueeze(-1) * xhat).sum(1))  # [B, D]
        e = torch.softmax((phi @ intention.unsqueeze(-1)).squeeze(-1) / self.tau, dim=1)
        return (e.unsqueeze(-1) * phi).sum(1)  # [B, D]

    def regularization(self):
        if self.reg_weight == 0:
            return 0.0
        # covariance between the concepts (over the embedding dimensions), Eq. 10
        c = self.concepts - self.concepts.mean(1, keepdim=True)
        cov = c @ c.T / c.shape[1]  # [C, C]
        return self.reg_weight * 0.5 * (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum())
