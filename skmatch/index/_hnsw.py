"""Approximate maximum-inner-product search with an HNSW graph (hnswlib)."""

from __future__ import annotations

import numbers

import hnswlib
import numpy as np
import scipy.sparse as sp

from skmatch.index._base import BaseIndex, pad_results
from skmatch.index._exact import ExactIndex

__all__ = ["HNSWIndex"]

# ef multipliers tried, in order, for queries that hnswlib cannot answer in full
_EF_ESCALATION = (1, 4, 16)


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {name}={value}.")
    return int(value)


class HNSWIndex(BaseIndex):
    """Approximate top-k by inner product over a hierarchical navigable small-world graph.

    Wraps ``hnswlib`` with ``space="ip"``. The candidates hnswlib returns are re-scored
    exactly (float64 sums rounded to float32) and ranked best first, ties to the lower
    item index. Exclusions are exact: each query fetches ``k`` plus (its number of
    excluded items rounded up to a power of two) neighbours, drops the excluded ones and
    keeps the first ``k``. Queries that hnswlib cannot answer in full are retried with a
    larger ``ef`` and, as a last resort, answered by exact search over the stored
    vectors; so are queries that would fetch more than half the catalogue. Each query's
    result depends only on that query, so a batched search equals searching the queries
    one by one.

    Parameters
    ----------
    M : int, default=16
        Graph degree (hnswlib ``M``). Larger: better recall, more memory, slower build.
    ef_construction : int, default=200
        Candidate list size while building the graph.
    ef : int, default=32
        Candidate list size while searching; raised to the number of neighbours fetched
        when that is larger (``ef >= k`` always holds). With ``M=16`` the default gives
        recall@10 of about 0.98 on 10^5 clustered 64-d vectors at about 30,000
        queries/s on two cores (``benchmarks/results/index.md``).
    num_threads : int, default=-1
        Threads for searching (``-1``: all cores), and for building when
        ``random_state`` is None.
    random_state : int, RandomState instance or None, default=0
        Seed of the graph's level generator. With a seed the graph is built with one
        thread, because hnswlib's parallel inserts depend on thread scheduling and would
        make the graph, and so the results, differ from run to run. ``None`` builds with
        ``num_threads`` threads: faster, not reproducible.

    Attributes
    ----------
    vectors_ : ndarray of shape (n_items_, dim_), float32
        The indexed item vectors (kept for exact re-scoring and fallback).
    index_ : hnswlib.Index
        The graph.
    n_items_ : int
        Number of indexed items.
    dim_ : int
        Vector dimension.

    See Also
    --------
    ExactIndex : Brute-force search; exact, for catalogues below about 20,000 items.

    Examples
    --------
    >>> import numpy as np
    >>> from skmatch.index import HNSWIndex
    >>> items = np.random.default_rng(0).normal(size=(1000, 8))
    >>> index = HNSWIndex().fit(items)
    >>> indices, scores = index.search(items[:3], k=5, exclude=[[0], [1], [2]])
    >>> indices.shape, scores.dtype
    ((3, 5), dtype('float32'))
    """

    def __init__(
        self,
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 32,
        num_threads: int = -1,
        random_state: int | np.random.RandomState | None = 0,
    ):
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.num_threads = num_threads
        self.random_state = random_state

    def _fit(self, vectors: np.ndarray) -> None:
        M = _check_int(self.M, "M", 2)
        ef_construction = _check_int(self.ef_construction, "ef_construction", 1)
        _check_int(self.ef, "ef", 1)
        threads = _check_int(self.num_threads, "num_threads", -1)
        if threads == 0:
            raise ValueError("num_threads must be -1 (all cores) or >= 1, got num_threads=0.")
        seed, build_threads = self._seed_and_threads(threads)
        n_items, dim = vectors.shape
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(
            max_elements=n_items, M=M, ef_construction=ef_construction, random_seed=seed
        )
        index.add_items(vectors, np.arange(n_items), num_threads=build_threads)
        self.index_ = index

    def _seed_and_threads(self, threads: int) -> tuple[int, int]:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().generate_state(1)[0]), threads
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(np.iinfo(np.int32).max)), 1
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(np.iinfo(np.int32).max)), 1
        return _check_int(rs, "random_state", 0), 1

    def _search(self, queries: np.ndarray, k: int, excl: sp.csr_array | None):
        n_queries, n_items = queries.shape[0], self.n_items_
        n_excl = np.zeros(n_queries, np.int64) if excl is None else np.diff(excl.indptr)
        # fetch k + n_excluded rounded up to a power of two, so rows group into few sizes
        extra = np.where(n_excl > 0, 2 ** np.ceil(np.log2(np.maximum(n_excl, 1))), 0)
        fetch = np.minimum(k + extra.astype(np.int64), n_items)  # (n_queries,)
        indices = np.empty((n_queries, k), dtype=np.int64)
        scores = np.empty((n_queries, k), dtype=np.float32)
        exact_rows = [np.flatnonzero(2 * fetch > n_items)]
        for f in np.unique(fetch[2 * fetch <= n_items]):
            rows = np.flatnonzero(fetch == f)
            labels, failed = self._knn(queries[rows], int(f))  # (len(rows), f) int64
            ok = np.setdiff1d(np.arange(rows.size), failed)
            indices[rows[ok]], scores[rows[ok]] = self._rerank(
                queries[rows[ok]], labels[ok], k, excl, rows[ok]
            )
            exact_rows.append(rows[failed])
        exact_rows = np.concatenate(exact_rows)
        if exact_rows.size:
            sub_excl = None if excl is None else excl[exact_rows]
            exact = ExactIndex().fit(self.vectors_)
            indices[exact_rows], scores[exact_rows] = exact.search(
                queries[exact_rows], k, exclude=sub_excl
            )
        return indices, scores

    def _knn(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """Fetch ``fetch`` neighbours per query, raising ``ef`` for queries that fail.

        Returns the labels, shape (n_queries, fetch), and the positions of the queries
        that failed at every ``ef`` tried. A batch that fails is split in halves until
        the failing queries are isolated, so every query's answer is the one it gets
        alone at the smallest ``ef`` that works for it.
        """
        labels = np.full((queries.shape[0], fetch), -1, dtype=np.int64)
        pending = np.arange(queries.shape[0])
        ef0 = max(self.ef, fetch)
        tried = set()
        for mult in _EF_ESCALATION:
            ef = min(ef0 * mult, self.n_items_)
            if ef in tried or pending.size == 0:
                continue
            tried.add(ef)
            self.index_.set_ef(ef)
            failed = []
            stack = [pending]
            while stack:
                part = stack.pop()
                try:
                    found, _ = self.index_.knn_query(
                        queries[part], k=fetch, num_threads=self.num_threads
                    )
                except RuntimeError:  # "Cannot return the results in a contiguous 2D array"
                    if part.size == 1:
                        failed.append(part)
                    else:
                        stack += [part[part.size // 2 :], part[: part.size // 2]]
                    continue
                labels[part] = found.astype(np.int64)
            pending = np.concatenate(failed) if failed else np.zeros(0, np.int64)
        return labels, np.sort(pending)

    def _rerank(self, queries, labels, k, excl, rows):
        """Exact scores of the fetched ``labels`` (m, f), excluded items dropped, top k."""
        cand = self.vectors_[labels].astype(np.float64)  # (m, f, dim)
        scores = np.einsum("md,mfd->mf", queries.astype(np.float64), cand)
        scores = scores.astype(np.float32)  # (m, f)
        if excl is not None:
            sub = excl[rows]
            n_items = self.n_items_
            excl_keys = np.repeat(np.arange(rows.size), np.diff(sub.indptr)) * n_items
            excl_keys += sub.indices
            cand_keys = np.arange(rows.size)[:, None] * n_items + labels  # (m, f)
            scores[np.isin(cand_keys, excl_keys)] = -np.inf
        order = np.lexsort((labels, -scores), axis=1)[:, :k]  # best first, then lower index
        top_idx = np.take_along_axis(labels, order, axis=1)
        top_scores = np.take_along_axis(scores, order, axis=1)
        top_idx[top_scores == -np.inf] = -1
        return pad_results(top_idx, top_scores, k)
