"""Tests for skmatch.metrics ranking metrics (hand-computed values and a slow reference)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from skmatch.metrics import (
    coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

METRICS = [recall_at_k, ndcg_at_k, hit_rate_at_k, mrr_at_k, precision_at_k]

# user 0: relevant {1, 2}, hits at ranks 1 and 3
# user 1: relevant {3},    hit at rank 2
# user 2: relevant {4, 5, 6}, no hit
Y_TRUE = [[1, 2], [3], [4, 5, 6]]
Y_PRED = np.array([[1, 7, 2, 8], [9, 3, 7, 8], [1, 2, 3, 7]])


def _idcg(n: int) -> float:
    return sum(1 / math.log2(r + 1) for r in range(1, n + 1))


EXPECTED_K3 = {
    recall_at_k: [1.0, 1.0, 0.0],
    precision_at_k: [2 / 3, 1 / 3, 0.0],
    hit_rate_at_k: [1.0, 1.0, 0.0],
    mrr_at_k: [1.0, 0.5, 0.0],
    ndcg_at_k: [(1 + 1 / 2) / _idcg(2), (1 / math.log2(3)) / _idcg(1), 0.0],
}


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.__name__)
def test_hand_computed_values(metric):
    expected = np.array(EXPECTED_K3[metric])
    per_user = metric(Y_TRUE, Y_PRED, 3, average=False)
    assert per_user.dtype == np.float64
    np.testing.assert_allclose(per_user, expected, rtol=0, atol=1e-12)
    mean = metric(Y_TRUE, Y_PRED, 3)
    assert isinstance(mean, float)
    assert mean == pytest.approx(expected.mean(), abs=1e-12)


def test_ndcg_hits_at_ranks_one_and_three():
    value = ndcg_at_k([[1, 2]], [[1, 5, 2]], k=3)
    assert value == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)), abs=1e-12)


def test_ndcg_idcg_is_capped_at_k():
    # 5 relevant ids, k=2, both recommendations relevant: a perfect list scores 1
    assert ndcg_at_k([[1, 2, 3, 4, 5]], [[2, 1]], k=2) == pytest.approx(1.0)
    # recall is not capped at k: 2 of 5 found
    assert recall_at_k([[1, 2, 3, 4, 5]], [[2, 1]], k=2) == pytest.approx(0.4)


def test_only_first_k_columns_count():
    assert hit_rate_at_k([[5]], [[1, 2, 5]], k=2) == 0.0
    assert hit_rate_at_k([[5]], [[1, 2, 5]], k=3) == 1.0
    assert mrr_at_k([[5]], [[1, 2, 5]], k=3) == pytest.approx(1 / 3)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.__name__)
def test_single_targets_equal_sequence_form(metric):
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 30, size=200)
    y_pred = rng.permuted(np.tile(np.arange(30), (200, 1)), axis=1)[:, :10]
    single = metric(targets, y_pred, 10, average=False)
    sequence = metric([[t] for t in targets], y_pred, 10, average=False)
    series = metric(pd.Series(targets), y_pred, 10, average=False)
    np.testing.assert_array_equal(single, sequence)
    np.testing.assert_array_equal(single, series)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.__name__)
def test_string_ids_equal_int_ids(metric):
    y_true_str = [[f"i{x}" for x in row] for row in Y_TRUE]
    y_pred_str = np.array([[f"i{x}" for x in row] for row in Y_PRED], dtype=object)
    np.testing.assert_array_equal(
        metric(y_true_str, y_pred_str, 3, average=False),
        metric(Y_TRUE, Y_PRED, 3, average=False),
    )
    # a plain numpy string array works too
    np.testing.assert_array_equal(
        metric(y_true_str, y_pred_str.astype(str), 3, average=False),
        metric(Y_TRUE, Y_PRED, 3, average=False),
    )


def test_int_and_string_ids_never_match():
    assert hit_rate_at_k([["1"]], [[1, 2]], k=2) == 0.0
    assert hit_rate_at_k([[1]], np.array([["1", "2"]]), k=2) == 0.0
    # mixed ids in one row
    assert recall_at_k([[1, "a"]], np.array([["a", 1]], dtype=object), k=2) == 1.0


def test_padding_never_hits():
    # -1 padding for int ids, even when -1 is (wrongly) listed as relevant
    assert hit_rate_at_k([[-1, 3]], [[-1, -1]], k=2) == 0.0
    assert recall_at_k([[3]], [[3, -1, -1]], k=3) == 1.0
    assert precision_at_k([[3]], [[3, -1, -1]], k=3) == pytest.approx(1 / 3)
    # None / NaN padding for object and float ids
    y_pred = np.array([["a", None, None]], dtype=object)
    assert precision_at_k([["a", "b"]], y_pred, k=3) == pytest.approx(1 / 3)
    assert mrr_at_k([[1.0]], [[np.nan, 1.0]], k=2) == pytest.approx(0.5)
    assert recall_at_k([[1.0, 2.0]], [[np.nan, 2.0]], k=2) == pytest.approx(0.5)


def test_duplicates_in_y_true_count_once():
    assert recall_at_k([[1, 1, 2, 2]], [[1, 9]], k=2) == pytest.approx(0.5)
    assert ndcg_at_k([[1, 1]], [[1, 9]], k=2) == pytest.approx(1.0)


def test_repeated_recommendation_counts_once():
    assert recall_at_k([[1, 2]], [[1, 1]], k=2) == pytest.approx(0.5)
    assert precision_at_k([[1, 2]], [[1, 1, 2, 2]], k=4) == pytest.approx(0.5)


def test_y_true_containers():
    y_pred = [[1, 2], [3, 4], [5, 6]]
    expected = np.array([0.5, 1.0, 0.0])
    for y_true in (
        [np.array([1, 9]), {3}, (7,)],
        (np.array([1, 9]), [3, 3], 7),  # a scalar row is a single target
        pd.Series([[1, 9], [3], [7]], index=[10, 20, 30]),  # the index is ignored
        np.array([[1, 9], [3, 3], [7, 8]]),  # a rectangular block
        np.array([[1, 9], [3, -1], [7, -1]]),  # padded with -1
    ):
        np.testing.assert_array_equal(recall_at_k(y_true, y_pred, 2, average=False), expected)


def test_empty_relevant_sets_are_excluded():
    per_user = recall_at_k([[1], [], [5]], [[1, 2], [1, 2], [3, 4]], 2, average=False)
    np.testing.assert_array_equal(np.isnan(per_user), [False, True, False])
    assert recall_at_k([[1], [], [5]], [[1, 2], [1, 2], [3, 4]], 2) == pytest.approx(0.5)
    assert recall_at_k([[1], None, [5]], [[1, 2], [1, 2], [3, 4]], 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="relevant"):
        recall_at_k([[], []], [[1, 2], [1, 2]], 2)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.__name__)
def test_errors(metric):
    with pytest.raises(ValueError, match="k must be a positive"):
        metric(Y_TRUE, Y_PRED, 0)
    with pytest.raises(TypeError, match="k must be a positive"):
        metric(Y_TRUE, Y_PRED, 2.5)
    with pytest.raises(TypeError, match="k must be a positive"):
        metric(Y_TRUE, Y_PRED, True)
    with pytest.raises(ValueError, match="2-D"):
        metric(Y_TRUE, Y_PRED[:, 0], 1)
    with pytest.raises(ValueError, match="4 column"):
        metric(Y_TRUE, Y_PRED, 5)
    with pytest.raises(ValueError, match=r"y_true has 2 user\(s\) but y_pred has 3 row"):
        metric(Y_TRUE[:2], Y_PRED, 3)
    with pytest.raises(TypeError, match="DataFrame"):
        metric(pd.DataFrame({"a": [1, 2, 3]}), Y_PRED, 3)
    with pytest.raises(TypeError, match="y_true"):
        metric(5, Y_PRED, 3)
    with pytest.raises(ValueError, match="y_pred"):
        metric(Y_TRUE, [[1, 2], [3], [4, 5]], 1)  # ragged


def test_coverage():
    y_pred = np.array([[1, 2, 3], [2, 4, -1], [1, -1, -1]])
    assert coverage(y_pred, n_items=10) == pytest.approx(0.4)
    assert coverage(y_pred, n_items=10, k=1) == pytest.approx(0.2)
    assert coverage(np.array([["a", None], ["b", "a"]], dtype=object), n_items=4) == 0.5
    with pytest.raises(ValueError, match="n_items"):
        coverage(y_pred, n_items=2)
    with pytest.raises(ValueError, match="n_items"):
        coverage(y_pred, n_items=0)
    with pytest.raises(ValueError, match="column"):
        coverage(y_pred, n_items=10, k=4)


def _reference(y_true, y_pred, k):
    """Slow per-user reference: (recall, precision, hit, mrr, ndcg) per user."""
    out = []
    for relevant, recs in zip(y_true, y_pred, strict=True):
        relevant = set(relevant)
        seen, hits = set(), []
        for rank, item in enumerate(recs[:k], start=1):
            if item != -1 and item in relevant and item not in seen:
                hits.append(rank)
            seen.add(item)
        if not relevant:
            out.append([np.nan] * 5)
            continue
        dcg = sum(1 / math.log2(r + 1) for r in hits)
        out.append(
            [
                len(hits) / len(relevant),
                len(hits) / k,
                float(bool(hits)),
                1 / hits[0] if hits else 0.0,
                dcg / _idcg(min(len(relevant), k)),
            ]
        )
    return np.array(out)


def test_vectorised_matches_reference_on_large_input():
    rng = np.random.default_rng(42)
    n_users, n_items, k = 100_000, 500, 20
    y_pred = rng.integers(0, n_items, size=(n_users, k))
    y_pred[rng.random((n_users, k)) < 0.05] = -1  # some padding
    lengths = rng.integers(0, 10, size=n_users)
    y_true = np.split(rng.integers(0, n_items, size=lengths.sum()), np.cumsum(lengths)[:-1])
    got = np.column_stack(
        [
            metric(y_true, y_pred, k, average=False)
            for metric in (recall_at_k, precision_at_k, hit_rate_at_k, mrr_at_k, ndcg_at_k)
        ]
    )
    subset = rng.choice(n_users, size=200, replace=False)
    expected = _reference([y_true[i] for i in subset], y_pred[subset], k)
    np.testing.assert_allclose(got[subset], expected, rtol=1e-12, atol=1e-12)
    assert recall_at_k(y_true, y_pred, k) == pytest.approx(np.nanmean(got[:, 0]))


def test_mixed_id_lists_keep_their_types():
    # numpy would turn [[1, "x"]] into strings; the ids must stay 1 and "x"
    assert recall_at_k([[1, "x"]], [[1, "x"]], k=2) == 1.0
    assert recall_at_k([[1, "x"]], [["1", "x"]], k=2) == 0.5
    assert recall_at_k([["1", "x"]], [["1", "x"]], k=2) == 1.0
    assert recall_at_k([["nan"]], [["a", np.nan]], k=2) == 0.0  # NaN stays padding
