"""Shared pieces of the retrieval indexes: validation, exclusions and the top-k kernel.

Both indexes follow the same contract: ``fit(vectors)`` stores an ``(n_items, dim)``
float32 matrix, ``search(queries, k, exclude=None)`` returns ``(indices, scores)`` of shape
``(n_queries, k)`` (int64 and float32), best first, padded with ``-1`` / ``-inf``.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from skmatch.exceptions import NotFittedError, format_values

__all__ = ["BaseIndex", "check_k", "check_vectors", "exclusion_csr", "pad_results", "top_k"]


def check_vectors(x, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Validate a dense 2-D matrix of finite numbers and return it as C-contiguous float32.

    Parameters
    ----------
    x : array-like of shape (n_rows, dim)
        The matrix to check.
    name : str
        Argument name used in error messages (``"vectors"``, ``"queries"``).
    allow_empty : bool, default=False
        Whether zero rows are accepted.

    Returns
    -------
    ndarray of shape (n_rows, dim), dtype float32, C-contiguous
    """
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense array, got a sparse matrix; call .toarray().")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        hint = " Use reshape(1, -1) for a single row." if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_rows, dim), got shape {arr.shape}.{hint}")
    if arr.shape[1] == 0 or (arr.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)  # (n_rows, dim) float32
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} must be finite (float32): {bad.size} row(s) contain NaN or infinite "
            f"values, first rows {format_values(bad.tolist())}. Drop or impute them."
        )
    return arr


def check_k(k) -> int:
    """Validate ``k``, the number of neighbours per query (a positive int)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive int, got {k!r} of type {type(k).__name__}.")
    if k <= 0:
        raise ValueError(f"k must be a positive int, got k={k}.")
    return int(k)


def exclusion_csr(exclude, n_queries: int, n_items: int) -> sp.csr_array | None:
    """Normalise ``exclude`` to a CSR array of shape (n_queries, n_items).

    Each row's column indices are sorted and unique. Returns ``None`` when nothing is
    excluded.

    Parameters
    ----------
    exclude : None, sequence of int arrays, or scipy sparse matrix
        Per-query item indices to exclude, or a sparse matrix whose nonzero columns are
        excluded for each row.
    n_queries, n_items : int
        Expected shape.
    """
    if exclude is None:
        return None
    if sp.issparse(exclude):
        if exclude.shape != (n_queries, n_items):
            raise ValueError(
                f"exclude as a sparse matrix must have shape (n_queries, n_items) = "
                f"({n_queries}, {n_items}), got {exclude.shape}."
            )
        csr = sp.csr_array(exclude, copy=True)
        csr.sum_duplicates()
        csr.eliminate_zeros()
    else:
        if isinstance(exclude, (str, bytes)) or not hasattr(exclude, "__len__"):
            raise TypeError(
                "exclude must be None, a sequence of per-query index arrays or a sparse "
                f"matrix, got {type(exclude).__name__}."
            )
        if len(exclude) != n_queries:
            raise ValueError(
                f"exclude must have one entry per query: got {len(exclude)} entries for "
                f"{n_queries} queries."
            )
        rows = [np.asarray([] if r is None else r).ravel() for r in exclude]
        bad_type = [i for i, r in enumerate(rows) if r.size and r.dtype.kind not in "iu"]
        if bad_type:
            raise TypeError(
                f"exclude entries must be integer index arrays: {len(bad_type)} entries are "
                f"not, first queries {format_values(bad_type)} "
                f"(dtype {rows[bad_type[0]].dtype})."
            )
        lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=n_queries)
        indptr = np.zeros(n_queries + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        cols = np.concatenate(rows).astype(np.int64) if indptr[-1] else np.zeros(0, np.int64)
        out_of_range = cols[(cols < 0) | (cols >= n_items)]
        if out_of_range.size:
            raise ValueError(
                f"exclude holds {out_of_range.size} item indices outside [0, {n_items}), "
                f"first {format_values(out_of_range.tolist())}."
            )
        data = np.ones(cols.size, dtype=np.int8)
        csr = sp.csr_array((data, cols, indptr), shape=(n_queries, n_items))
        csr.sum_duplicates()  # sorts and deduplicates columns per row
    if csr.nnz == 0:
        return None
    return csr


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Select the ``k`` best columns of every row, best first, ties to the lower index.

    The result depends only on each row's values (not on the other rows, nor on how
    ``argpartition`` cuts ties): the selected set is every column scoring above the
    row's k-th best value plus the lowest-indexed columns equal to it.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_cols), float32
        Scores; ``-inf`` marks excluded columns.
    k : int
        Positive number of columns to keep.

    Returns
    -------
    indices : ndarray of shape (n_rows, k), int64
        Column indices, ``-1`` where fewer than ``k`` columns have a finite score.
    values : ndarray of shape (n_rows, k), float32
        Matching scores, ``-inf`` in padded slots.
    """
    n_rows, n_cols = scores.shape
    kk = min(k, n_cols)
    if kk == n_cols:
        cand = np.broadcast_to(np.arange(n_cols, dtype=np.int64), (n_rows, n_cols)).copy()
    else:
        cand = np.argpartition(scores, n_cols - kk, axis=1)[:, n_cols - kk :]  # (n_rows, kk)
        cand_scores = np.take_along_axis(scores, cand, axis=1)  # (n_rows, kk)
        kth = cand_scores.min(axis=1, keepdims=True)  # (n_rows, 1)
        n_tied_row = np.count_nonzero(scores == kth, axis=1)
        n_tied_cand = np.count_nonzero(cand_scores == kth, axis=1)
        ambiguous = np.flatnonzero(n_tied_row > n_tied_cand)
        if ambiguous.size:  # ties cut at the k-th boundary: keep the lowest indices
            sub = scores[ambiguous]  # (n_amb, n_cols)
            above = sub > kth[ambiguous]
            tied = sub == kth[ambiguous]
            need = kk - np.count_nonzero(above, axis=1)  # (n_amb,)
            keep = above | (tied & (np.cumsum(tied, axis=1) <= need[:, None]))
            cand[ambiguous] = np.nonzero(keep)[1].reshape(ambiguous.size, kk)
        cand = cand.astype(np.int64, copy=False)
    values = np.take_along_axis(scores, cand, axis=1)  # (n_rows, kk)
    order = np.lexsort((cand, -values), axis=1)  # best score first, then lower index
    indices = np.take_along_axis(cand, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    indices[values == -np.inf] = -1
    return pad_results(indices, values, k)


def pad_results(indices: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``(n_rows, k')`` results to ``(n_rows, k)`` with ``-1`` / ``-inf``."""
    n_rows, width = indices.shape
    if width >= k:
        return indices[:, :k], values[:, :k]
    out_idx = np.full((n_rows, k), -1, dtype=np.int64)
    out_val = np.full((n_rows, k), -np.inf, dtype=np.float32)
    out_idx[:, :width] = indices
    out_val[:, :width] = values
    return out_idx, out_val


class BaseIndex(BaseEstimator):
    """Common ``fit`` / ``search`` plumbing; subclasses implement ``_fit`` and ``_search``."""

    def fit(self, vectors) -> BaseIndex:
        """Store the item vectors and build the index.

        Parameters
        ----------
        vectors : array-like of shape (n_items, dim)
            Item embeddings; cast to C-contiguous float32. Must be finite and non-empty.

        Returns
        -------
        self
            The fitted index.
        """
        vectors = check_vectors(vectors, "vectors")
        self._fit(vectors)
        self.vectors_ = vectors  # (n_items, dim) float32
        self.n_items_, self.dim_ = vectors.shape
        return self

    def search(self, queries, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` items with the highest inner product for each query.

        Parameters
        ----------
        queries : array-like of shape (n_queries, dim)
            Query vectors, cast to float32.
        k : int
            Number of results per query. Larger than ``n_items_`` is allowed: the rows
            are padded.
        exclude : None, sequence of int arrays, or scipy sparse matrix, default=None
            Items never to return: one array of item indices per query, or a sparse
            matrix of shape ``(n_queries, n_items_)`` whose nonzero columns are excluded.

        Returns
        -------
        indices : ndarray of shape (n_queries, k), int64
            Item indices, best first; ``-1`` where fewer than ``k`` items qualify.
        scores : ndarray of shape (n_queries, k), float32
            Inner products, ``-inf`` in padded slots.
        """
        if not hasattr(self, "vectors_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "the item vectors before 'search'."
            )
        k = check_k(k)
        queries = check_vectors(queries, "queries", allow_empty=True)
        if queries.shape[1] != self.dim_:
            raise ValueError(
                f"queries have dim {queries.shape[1]} but the index was fitted on vectors "
                f"of dim {self.dim_}."
            )
        excl = exclusion_csr(exclude, queries.shape[0], self.n_items_)
        if queries.shape[0] == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return self._search(queries, k, excl)

    def _fit(self, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def _search(self, queries: np.ndarray, k: int, excl: sp.csr_array | None):
        raise NotImplementedError
