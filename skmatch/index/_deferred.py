"""An index built on its first search."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from skmatch.index._base import BaseIndex


class DeferredIndex(BaseIndex):
    """Wrap an index so that it is built from the stored vectors on the first search.

    After a distributed fit, ranks other than 0 hold one of these: only rank 0 pays
    for building the (HNSW) index at the end of training, and another rank builds
    its own only if it is asked to search.

    Parameters
    ----------
    index : BaseIndex
        The unfitted index to build.
    """

    def __init__(self, index: BaseIndex | None = None):
        self.index = index

    def _fit(self, vectors: np.ndarray) -> None:
        if not isinstance(self.index, BaseIndex):
            raise TypeError(f"index must be a skmatch index, got {type(self.index)}.")
        self.__dict__.pop("built_", None)

    def _search(self, queries: np.ndarray, k: int, excl: sp.csr_array | None):
        if not hasattr(self, "built_"):
            self.built_ = clone(self.index).fit(self.vectors_)
        return self.built_._search(queries, k, excl)
