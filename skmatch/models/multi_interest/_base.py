"""What the multi-interest models share: interests, their training rule and retrieval.

Every module embeds items with one table, reads left-padded histories and gives
``user_forward(batch) -> [B, K, D]`` (the interests used for retrieval) and
``train_user(batch, target) -> [B, D]`` (the one user vector the training loss scores:
the interests combined for the target item, or by the model's own rule).
"""

from __future__ import annotations

import numpy as np
import torch

from skmatch.exceptions import format_values
from skmatch.features import N_RESERVED
from skmatch.models._diversity import diversify
from skmatch.models._dropout import AutoDropout
from skmatch.models._merge import merge_interests
from skmatch.models._params import check_float, check_int
from skmatch.models.neural import TorchMatcher
from skmatch.nn.dropout import Dropout
from skmatch.nn.interests import label_aware_attention
from skmatch.nn.item_table import ItemTableModule
from skmatch.nn.protocol import Batch


class MultiInterestModule(ItemTableModule):
    """Interests ``[B, K, D]`` of a history; training scores the target against their
    label-aware attention (``power``: inf picks the interest closest to the target).
    The history's item vectors (id and side features) pass through ``dropout``; user
    features are added to every interest."""

    power: float = float("inf")  # hard selection of the best interest (ComiRec)

    def __init__(self, n_item_codes, dim, dropout=0.0, item_features=(), user_features=()):
        super().__init__(n_item_codes, dim, item_features=item_features,
                         user_features=user_features)  # fmt: skip
        self.dropout = Dropout(dropout)

    def history(self, hist: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, L, D]
        return self.dropout(self.embed_items(hist))

    def interests(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Interests ``[B, K, D]`` and which of them are active (``None``: all)."""
        raise NotImplementedError  # pragma: no cover

    def user_forward(self, batch: Batch) -> torch.Tensor:  # -> [B, K, D]
        v, active = self.interests(batch)
        if active is None:
            return v
        # inactive interests repeat the first one: same merged ranking, fixed shape
        return torch.where(active.unsqueeze(-1), v, v[:, :1].expand_as(v))

    def train_user(self, batch: Batch, target: torch.Tensor) -> torch.Tensor:  # -> [B, D]
        v, active = self.interests(batch)
        return label_aware_attention(v, target, self.power, active)

    def train_forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        pos_vec = self.item_forward(batch.pos)  # [B, D]: the target steers the interests
        return self.train_user(batch, pos_vec), pos_vec


class MultiInterestMatcher(AutoDropout, TorchMatcher):
    """Base class of the multi-interest models.

    :meth:`transform_users` returns ``(n_users, n_interests, embed_dim)``;
    :meth:`recommend` searches the one item index with every interest and merges the
    lists (an item's score is its best interest's score, no duplicates). With
    ``diversity > 0`` the merged candidates are re-ranked greedily for category
    diversity (ComiRec's controllable aggregation) by ``category_feature``, and the
    items come in the greedy order (their scores, each item's best interest score,
    then need not decrease); ``diversity`` may be changed after fitting.

    With ``feature_spec=None`` the model reads the 20 most recent items of a history
    (``FeatureSpec(max_seq_len=20)``): these models pool or route the history as a set.
    20 matched or beat FeatureSpec's default 50 on validation for 7 of the 8
    model-dataset pairs of the shipped datasets, and with the defaults it raised MIND's
    and ComiRec-DR's test NDCG@10 and cut their fit times (``docs/benchmarks.md``, "A
    window of 20 for the multi-interest models").
    """

    _default_window = 20

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_interests, "n_interests")
        self._check_diversity(spec=None)

    def _check_diversity(self, spec) -> None:
        """``diversity`` and ``category_feature``; against ``spec`` when it is known."""
        check_float(self.diversity, "diversity")
        if self.category_feature is None:
            if self.diversity > 0:
                raise ValueError(
                    f"diversity={self.diversity} needs category_feature: the name of an "
                    "item feature of the FeatureSpec (e.g. 'genres') giving each item's "
                    "category."
                )
            return
        if spec is None:
            return
        if self.category_feature not in spec.item_features:
            raise ValueError(
                f"category_feature={self.category_feature!r} is not an item feature of the "
                f"FeatureSpec; its item_features are {format_values(list(spec.item_features))}."
            )
        if spec.feature_kinds_[self.category_feature] == "dense":
            raise ValueError(
                f"category_feature={self.category_feature!r} is a dense feature; categories "
                "must be sparse or multi-valued."
            )

    def _fit(self, inter, validation_data=None) -> None:
        self._check_diversity(self.feature_spec_)  # the fitted spec is known now
        super()._fit(inter, validation_data)

    def _merge_interests(self, pos, scores, k):
        self._check_diversity(self.feature_spec_)
        if self.diversity == 0:
            return merge_interests(pos, scores, k)
        pos, scores = merge_interests(pos, scores, pos.shape[1])  # every distinct candidate
        return diversify(pos, scores, k, self._item_categories(), float(self.diversity))

    def _item_categories(self) -> np.ndarray:
        """Category codes of every item position, ``(n_items, W)``: distinct per row, 0 =
        none (out-of-vocabulary values count as none: they are no shared category)."""
        table = self.feature_spec_.item_table_[self.category_feature][N_RESERVED:]
        cats = table.reshape(table.shape[0], -1).copy()
        cats[cats < N_RESERVED] = 0
        cats.sort(axis=1)
        dup = np.zeros(cats.shape, dtype=bool)
        dup[:, 1:] = cats[:, 1:] == cats[:, :-1]
        cats[dup] = 0
        return cats
