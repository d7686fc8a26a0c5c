"""Popularity: the most-interacted items, the baseline every model must beat."""

from __future__ import annotations

import numpy as np

from skmatch.features import N_RESERVED, code_to_position
from skmatch.index import ExactIndex
from skmatch.models.base import BaseMatcher


class Popularity(BaseMatcher):
    """Recommend the items with the most training interactions.

    Scores are interaction counts (weighted by ``weight`` and counting only positive
    ``label`` rows when those columns exist); ties go to the item with the lower code.
    Users and items are embedded in one dimension (users as 1, items as their count),
    so the whole retrieval API works as for the neural models.

    Parameters
    ----------
    feature_spec : FeatureSpec, optional
        Used (cloned) when ``fit`` receives a raw DataFrame.
    k : int, default 10
        Cut-off of :meth:`score` and :meth:`predict`.

    Attributes
    ----------
    item_counts_ : ndarray of shape (n_items_,), float32
        Training count of every known item, in code order.

    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> from skmatch.models import Popularity
    >>> df = make_interactions(n_users=50, n_items=30, random_state=0)
    >>> ids, scores = Popularity().fit(df).recommend(["u1"], k=3)
    >>> ids.shape
    (1, 3)
    """

    def __init__(self, *, feature_spec=None, k: int = 10) -> None:
        self.feature_spec = feature_spec
        self.k = k

    def _fit(self, inter, validation_data=None) -> None:
        weights = np.ones(len(inter), dtype=np.float64)
        if inter.weights is not None:
            weights = inter.weights.astype(np.float64)
        if inter.labels is not None:
            weights = weights * (inter.labels > 0)
        counts = np.bincount(inter.item_codes, weights=weights, minlength=len(inter.spec.items_))
        self.item_counts_ = counts[N_RESERVED:].astype(np.float32)

    def _partial_fit(self, inter, new_rows, old_n_items) -> None:
        weights = np.ones(new_rows.size) if inter.weights is None else inter.weights[new_rows]
        if inter.labels is not None:
            weights = weights * (inter.labels[new_rows] > 0)
        codes = code_to_position(inter.item_codes[new_rows])
        counts = np.zeros(self.n_items_, dtype=np.float64)
        counts[:old_n_items] = self.item_counts_
        counts += np.bincount(codes, weights=weights, minlength=self.n_items_)
        self.item_counts_ = counts.astype(np.float32)

    def _grown_item_vectors(self, spec) -> np.ndarray:
        counts = np.zeros(spec.n_items_, dtype=np.float32)  # added items: never seen
        counts[: self.item_counts_.size] = self.item_counts_
        return counts[:, None]

    def _add_items(self, spec) -> None:
        self.item_counts_ = self._grown_item_vectors(spec)[:, 0]

    def _make_index(self):
        return ExactIndex()

    def _user_vectors(self, query) -> np.ndarray:
        return np.ones((len(query), 1), dtype=np.float32)

    def _item_vectors(self) -> np.ndarray:
        return self.item_counts_[:, None]

    def _state(self):
        return {}, {"item_counts": self.item_counts_}, None

    def _restore(self, meta, arrays, module_state) -> None:
        self.item_counts_ = arrays["item_counts"]
