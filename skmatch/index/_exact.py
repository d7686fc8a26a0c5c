"""Exact maximum-inner-product search: chunked matrix product plus ``argpartition``."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn import get_config

from skmatch.index._base import BaseIndex, top_k

__all__ = ["ExactIndex"]

# bytes held per score of a chunk: the float64 product with its float32 rounding
# (12), then the float32 block with argpartition's int64 positions and masks (~14)
_BYTES_PER_SCORE = 16


class ExactIndex(BaseIndex):
    """Brute-force top-k by inner product, exact and deterministic.

    Queries are scored in chunks; each chunk's ``(chunk, n_items)`` score block is kept
    within ``working_memory`` MiB. Scores are accumulated in float64 and rounded to
    float32 before ranking, and ties go to the lower item index, so a batched search
    returns bit for bit what searching the queries one by one returns.

    Parameters
    ----------
    working_memory : float, default=None
        Memory budget in MiB for one chunk of scores. ``None`` uses
        ``sklearn.get_config()["working_memory"]`` at search time. At least one query is
        scored per chunk whatever the budget.

    Attributes
    ----------
    vectors_ : ndarray of shape (n_items_, dim_), float32
        The indexed item vectors.
    n_items_ : int
        Number of indexed items.
    dim_ : int
        Vector dimension.

    See Also
    --------
    HNSWIndex : Approximate search for large catalogues.

    Examples
    --------
    >>> import numpy as np
    >>> from skmatch.index import ExactIndex
    >>> items = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> index = ExactIndex().fit(items)
    >>> indices, scores = index.search([[1.0, 0.2]], k=2)
    >>> indices
    array([[0, 2]])
    >>> scores
    array([[1. , 0.6]], dtype=float32)
    >>> index.search([[1.0, 0.2]], k=4, exclude=[[0]])[0]
    array([[ 2,  1, -1, -1]])
    """

    def __init__(self, *, working_memory: float | None = None):
        self.working_memory = working_memory

    def _fit(self, vectors: np.ndarray) -> None:
        wm = self.working_memory
        if wm is not None and (isinstance(wm, bool) or not isinstance(wm, numbers.Real)):
            raise TypeError(f"working_memory must be a number of MiB or None, got {wm!r}.")
        if wm is not None and not wm > 0:
            raise ValueError(f"working_memory must be positive, got working_memory={wm}.")
        self._vectors64 = vectors.astype(np.float64)  # (n_items, dim)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_vectors64", None)  # derived from vectors_; rebuilt on demand
        return state

    def _search(self, queries: np.ndarray, k: int, excl: sp.csr_array | None):
        if getattr(self, "_vectors64", None) is None:
            self._vectors64 = self.vectors_.astype(np.float64)  # (n_items, dim)
        n_queries, n_items = queries.shape[0], self.n_items_
        wm = self.working_memory
        if wm is None:
            wm = get_config()["working_memory"]
        chunk = int(wm * 2**20) // (_BYTES_PER_SCORE * n_items)
        chunk = min(max(chunk, 1), n_queries)
        indices = np.empty((n_queries, k), dtype=np.int64)
        scores = np.empty((n_queries, k), dtype=np.float32)
        for start in range(0, n_queries, chunk):
            stop = min(start + chunk, n_queries)
            block = self._score_block(queries[start:stop])  # (stop - start, n_items) float32
            if excl is not None:
                sub = excl[start:stop]
                rows = np.repeat(np.arange(stop - start), np.diff(sub.indptr))
                block[rows, sub.indices] = -np.inf
            indices[start:stop], scores[start:stop] = top_k(block, k)
        return indices, scores

    def _score_block(self, queries: np.ndarray) -> np.ndarray:
        """Inner products of ``queries`` (m, dim) with every item: (m, n_items) float32."""
        q64 = queries.astype(np.float64)  # (m, dim)
        if q64.shape[0] == 1:
            # BLAS takes a matrix-vector path for a single row whose float64 sums may
            # differ in the last bit from the matrix-matrix path; duplicate the row so a
            # lone query goes through the same kernel as a batch.
            return (np.vstack([q64, q64]) @ self._vectors64.T)[:1].astype(np.float32)
        return (q64 @ self._vectors64.T).astype(np.float32)
