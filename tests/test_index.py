"""Tests for skmatch.index: ExactIndex, HNSWIndex and make_index."""

from __future__ import annotations

import doctest
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import clone, config_context

import skmatch.index._exact
import skmatch.index._hnsw
from skmatch.exceptions import NotFittedError
from skmatch.index import ExactIndex, HNSWIndex, make_index


def clustered(n, dim, seed, n_clusters=32):
    """Gaussian mixture; the centres depend on ``seed`` only, the points on (seed, n)."""
    centres = np.random.default_rng(seed).normal(size=(n_clusters, dim))
    rng = np.random.default_rng([seed, n])
    points = centres[rng.integers(n_clusters, size=n)] + rng.normal(scale=0.5, size=(n, dim))
    return points.astype(np.float32)


def reference(items, queries, k, exclude=None):
    """Brute force: float64 scores rounded to float32, stable argsort (ties to lower index)."""
    scores = (queries.astype(np.float64) @ items.astype(np.float64).T).astype(np.float32)
    if exclude is not None:
        for row, cols in enumerate(exclude):
            scores[row, cols] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    order[top == -np.inf] = -1
    return order, top


def recall(found, truth):
    return np.mean(
        [
            np.intersect1d(f[f >= 0], t[t >= 0]).size / k_
            for f, t, k_ in zip(found, truth, (truth >= 0).sum(axis=1), strict=True)
        ]
    )


@pytest.fixture(scope="module")
def data():
    items = clustered(1500, 16, seed=0)
    queries = clustered(40, 16, seed=0) + 0.05
    return items, queries


@pytest.fixture(scope="module")
def big():
    """20k x 32 clustered catalogue with a default HNSW index (built once)."""
    items = clustered(20_000, 32, seed=1)
    queries = clustered(500, 32, seed=1) + 0.05
    return items, queries, ExactIndex().fit(items), HNSWIndex().fit(items)


def random_exclusions(n_queries, n_items, n_per_row, seed):
    rng = np.random.default_rng(seed)
    return [rng.choice(n_items, size=n_per_row, replace=False) for _ in range(n_queries)]


# --- ExactIndex ---------------------------------------------------------------------------


def test_exact_matches_reference(data):
    items, queries = data
    index = ExactIndex().fit(items)
    indices, scores = index.search(queries, 10)
    ref_idx, ref_scores = reference(items, queries, 10)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    assert indices.shape == scores.shape == (40, 10)
    np.testing.assert_array_equal(indices, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)
    assert index.n_items_ == 1500 and index.dim_ == 16
    assert index.vectors_.dtype == np.float32 and index.vectors_.flags.c_contiguous


def test_exact_ties_resolve_to_lower_index():
    # scores for query [1, 0]: 5, 1, 1, 1, 1, 3, 1 -> top 3 is 0, 5, then the lowest tied (1)
    items = np.array([[5, 0], [1, 0], [1, 0], [1, 0], [1, 0], [3, 0], [1, 0]], dtype=float)
    indices, scores = ExactIndex().fit(items).search([[1.0, 0.0]], 3)
    np.testing.assert_array_equal(indices, [[0, 5, 1]])
    np.testing.assert_array_equal(scores, [[5, 3, 1]])
    # many ties everywhere, compared with the stable-argsort reference for every k
    rng = np.random.default_rng(0)
    items = rng.integers(-2, 3, size=(300, 3)).astype(np.float32)
    queries = rng.integers(-1, 2, size=(25, 3)).astype(np.float32)
    index = ExactIndex().fit(items)
    for k in (1, 7, 50, 299, 300):
        np.testing.assert_array_equal(index.search(queries, k)[0], reference(items, queries, k)[0])


def test_exact_batched_equals_one_by_one(data):
    items, queries = data
    index = ExactIndex().fit(items)
    excl = random_exclusions(len(queries), len(items), 20, seed=1)
    for exclude in (None, excl):
        batch = index.search(queries, 15, exclude=exclude)
        for i in range(len(queries)):
            one = index.search(queries[i : i + 1], 15, None if exclude is None else [excl[i]])
            assert batch[0][i].tobytes() == one[0][0].tobytes()
            assert batch[1][i].tobytes() == one[1][0].tobytes()


def test_exact_tiny_working_memory_gives_identical_results(data):
    items, queries = data
    index = ExactIndex().fit(items)
    expected = index.search(queries, 10)
    with config_context(working_memory=1e-3):  # one query per chunk
        got = index.search(queries, 10)
    got_param = ExactIndex(working_memory=0.01).fit(items).search(queries, 10)
    for result in (got, got_param):
        assert result[0].tobytes() == expected[0].tobytes()
        assert result[1].tobytes() == expected[1].tobytes()


@pytest.mark.parametrize("form", ["list", "csr"])
def test_exact_exclusions(data, form):
    items, queries = data
    excl = random_exclusions(len(queries), len(items), 50, seed=2)
    excl[0] = np.array([], dtype=np.int64)  # a row with nothing excluded
    excl[1] = np.concatenate([excl[1], excl[1][:5]])  # duplicates are fine
    exclude = excl
    if form == "csr":
        rows = np.repeat(np.arange(len(excl)), [len(e) for e in excl])
        exclude = sp.csr_matrix(
            (np.ones(rows.size), (rows, np.concatenate(excl))), shape=(len(queries), len(items))
        )
    indices, scores = ExactIndex().fit(items).search(queries, 10, exclude=exclude)
    for row, cols in zip(indices, excl, strict=True):
        assert not np.isin(row, cols).any()
    ref_idx, ref_scores = reference(items, queries, 10, exclude=excl)
    np.testing.assert_array_equal(indices, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)


def test_exclusions_leaving_fewer_than_k_items_pad():
    items = np.eye(4, dtype=np.float32)
    index = ExactIndex().fit(items)
    csr = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 0]]))
    indices, scores = index.search([[1, 2, 3, 4], [1, 2, 3, 4]], 3, exclude=csr)
    np.testing.assert_array_equal(indices, [[3, -1, -1], [3, 2, 1]])
    np.testing.assert_array_equal(scores, [[4, -np.inf, -np.inf], [4, 3, 2]])
    # explicit zeros stored in the sparse matrix do not exclude
    zeros = sp.csr_matrix((np.zeros(1), ([0], [3])), shape=(1, 4))
    assert index.search([[1, 2, 3, 4]], 1, exclude=zeros)[0][0, 0] == 3


@pytest.mark.parametrize("cls", [ExactIndex, HNSWIndex])
def test_k_larger_than_n_items_pads(cls):
    items = clustered(7, 4, seed=3)
    indices, scores = cls().fit(items).search(items[:2], 10)
    ref_idx, ref_scores = reference(items, items[:2], 7)
    np.testing.assert_array_equal(indices[:, :7], ref_idx)
    np.testing.assert_array_equal(scores[:, :7], ref_scores)
    assert (indices[:, 7:] == -1).all() and (scores[:, 7:] == -np.inf).all()


def test_exact_doctests():
    for module in (skmatch.index._exact, skmatch.index._hnsw, skmatch.index):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ExactIndex, HNSWIndex])
def test_bad_input_errors(cls, data):
    items, queries = data
    with pytest.raises(NotFittedError, match="fit"):
        cls().search(queries, 5)
    index = cls().fit(items[:200])
    with pytest.raises(ValueError, match="k=0"):
        index.search(queries, 0)
    with pytest.raises(ValueError, match="k=-1"):
        index.search(queries, -1)
    with pytest.raises(TypeError, match="k must be"):
        index.search(queries, 1.5)
    with pytest.raises(ValueError, match=r"dim 8 .* dim 16"):
        index.search(queries[:, :8], 5)
    with pytest.raises(ValueError, match="2-D"):
        index.search(queries[0], 5)
    bad_q = queries.copy()
    bad_q[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"queries .* 1 row.*\[3\]"):
        index.search(bad_q, 5)
    with pytest.raises(ValueError, match="one entry per query"):
        index.search(queries, 5, exclude=[[1]])
    with pytest.raises(ValueError, match=r"outside \[0, 200\).*\[200\]"):
        index.search(queries[:1], 5, exclude=[[3, 200]])
    with pytest.raises(TypeError, match="integer"):
        index.search(queries[:1], 5, exclude=[[1.5]])
    with pytest.raises(ValueError, match="shape"):
        index.search(queries[:2], 5, exclude=sp.csr_matrix((2, 10)))
    bad = items[:50].copy()
    bad[[4, 9, 30], 0] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match=r"vectors .* 3 row.*\[4, 9, 30\]"):
        cls().fit(bad)
    with pytest.raises(ValueError, match="non-empty"):
        cls().fit(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="2-D"):
        cls().fit(np.zeros(4))
    assert index.search(queries[:0], 3)[0].shape == (0, 3)


def test_hnsw_parameter_errors(data):
    items, _ = data
    with pytest.raises(ValueError, match="M"):
        HNSWIndex(M=1).fit(items)
    with pytest.raises(TypeError, match="ef"):
        HNSWIndex(ef=2.5).fit(items)
    with pytest.raises(ValueError, match="num_threads"):
        HNSWIndex(num_threads=0).fit(items)
    with pytest.raises(ValueError, match="working_memory"):
        ExactIndex(working_memory=-1).fit(items)


# --- HNSWIndex -----------------------------------------------------------------------------


def test_hnsw_recall_against_exact(big):
    _, queries, exact, hnsw = big
    truth, truth_scores = exact.search(queries, 10)
    found, scores = hnsw.search(queries, 10)
    assert recall(found, truth) >= 0.95
    # returned scores are exact inner products, sorted best first
    np.testing.assert_allclose(scores[:, 0], truth_scores[:, 0], rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_hnsw_batched_equals_one_by_one(big):
    _, queries, _, hnsw = big
    excl = random_exclusions(30, 20_000, 40, seed=4)
    excl[:10] = [e[:3] for e in excl[:10]]  # rows in different fetch groups
    for exclude in (None, excl):
        batch = hnsw.search(queries[:30], 10, exclude=exclude)
        for i in range(30):
            one = hnsw.search(queries[i : i + 1], 10, None if exclude is None else [excl[i]])
            assert batch[0][i].tobytes() == one[0][0].tobytes()
            assert batch[1][i].tobytes() == one[1][0].tobytes()


@pytest.mark.parametrize("form", ["list", "csr"])
def test_hnsw_exclusions_exact_on_returned_set(form):
    items = clustered(2000, 16, seed=5)
    queries = clustered(100, 16, seed=5) + 0.05
    # exclude each query's 300 nearest neighbours: the hard case for over-fetching
    top = ExactIndex().fit(items).search(queries, 300)[0]
    excl = [row for row in top]
    exclude = excl
    if form == "csr":
        exclude = sp.csr_array(
            (np.ones(top.size), (np.repeat(np.arange(100), 300), top.ravel())), shape=(100, 2000)
        )
    found, _ = HNSWIndex().fit(items).search(queries, 10, exclude=exclude)
    truth, _ = ExactIndex().fit(items).search(queries, 10, exclude=exclude)
    assert (found >= 0).all()
    for row, cols in zip(found, excl, strict=True):
        assert not np.isin(row, cols).any()
    assert recall(found, truth) >= 0.95


def test_hnsw_retries_and_falls_back_to_exact(data):
    """Queries hnswlib cannot answer are isolated, retried with more ef, then exact."""
    items, queries = data
    hnsw = HNSWIndex().fit(items)
    expected = hnsw.search(queries, 5)
    exact = ExactIndex().fit(items).search(queries, 5)

    class Flaky:  # fails every batch holding query 3 or 7; query 7 also at larger ef
        def __init__(self, index):
            self.index, self.ef, self.calls = index, None, []

        def set_ef(self, ef):
            self.ef = ef
            self.index.set_ef(ef)

        def knn_query(self, q, k, num_threads):
            self.calls.append((len(q), self.ef))
            hit = (q == queries[7]).all(axis=1).any() or (
                self.ef <= 32 and (q == queries[3]).all(axis=1).any()
            )
            if hit:
                raise RuntimeError("Cannot return the results in a contiguous 2D array")
            return self.index.knn_query(q, k=k, num_threads=num_threads)

    hnsw.index_ = Flaky(hnsw.index_)
    indices, scores = hnsw.search(queries, 5)
    assert {ef for _, ef in hnsw.index_.calls} == {32, 128, 512}
    ok = np.setdiff1d(np.arange(len(queries)), [3, 7])
    np.testing.assert_array_equal(indices[ok], expected[0][ok])
    np.testing.assert_array_equal(indices[7], exact[0][7])  # exact fallback
    np.testing.assert_array_equal(scores[7], exact[1][7])
    assert (indices[3] >= 0).all()  # answered at a larger ef


def test_hnsw_deterministic_with_seed(data):
    items, queries = data
    a = HNSWIndex(random_state=3).fit(items).search(queries, 10)
    b = HNSWIndex(random_state=3).fit(items).search(queries, 10)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    c = HNSWIndex(random_state=np.random.RandomState(0)).fit(items).search(queries, 10)
    unseeded = HNSWIndex(random_state=None, num_threads=2).fit(items).search(queries, 10)
    ref = reference(items, queries, 10)[0]
    assert recall(c[0], ref) >= 0.95 and recall(unseeded[0], ref) >= 0.95


# --- both ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ExactIndex, HNSWIndex])
def test_pickle_round_trip(cls, data):
    items, queries = data
    index = cls().fit(items)
    excl = random_exclusions(len(queries), len(items), 30, seed=6)
    expected = index.search(queries, 10, exclude=excl)
    restored = pickle.loads(pickle.dumps(index))
    got = restored.search(queries, 10, exclude=excl)
    assert got[0].tobytes() == expected[0].tobytes()
    assert got[1].tobytes() == expected[1].tobytes()
    assert restored.n_items_ == index.n_items_ and restored.dim_ == index.dim_
    assert not hasattr(clone(index), "n_items_")


def test_make_index():
    assert type(make_index("auto", n_items=19_999)) is ExactIndex
    assert type(make_index("auto", n_items=20_000)) is HNSWIndex
    assert type(make_index("exact")) is ExactIndex
    index = make_index("hnsw", params={"ef": 100, "M": 8}, random_state=7)
    assert (index.ef, index.M, index.random_state) == (100, 8, 7)
    assert make_index("hnsw", params={"random_state": None}, random_state=7).random_state is None
    assert make_index("exact", params={"working_memory": 8}).working_memory == 8
    with pytest.raises(ValueError, match=r"\['auto', 'exact', 'hnsw'\].*'faiss'"):
        make_index("faiss", n_items=10)
    with pytest.raises(ValueError, match="n_items"):
        make_index("auto")
    with pytest.raises(TypeError, match=r"\['ef'\]"):
        make_index("exact", params={"ef": 10})
