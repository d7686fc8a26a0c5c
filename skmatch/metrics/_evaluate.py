"""Evaluate a fitted matcher on held-out interactions; scorers for model selection."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from skmatch.metrics._ranking import (
    coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from skmatch.utils._checks import check_k

_METRICS: dict[str, Callable] = {
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": mrr_at_k,
    "precision": precision_at_k,
}


def _matcher(estimator):
    """The retrieval model inside ``estimator`` (the last step of a Pipeline)."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    if not hasattr(final, "rank_test"):
        raise TypeError(
            f"{type(final).__name__} is not a skmatch model (it has no rank_test method)."
        )
    return final


def evaluate(estimator, X_test, k: int | Iterable[int] = (10, 20)) -> dict[str, float]:
    """Full-ranking metrics of a fitted model on held-out interactions.

    Every user of ``X_test`` is embedded from its fit-time history and ranked against
    the whole catalogue with its fit-time items excluded; the rows of ``X_test`` are
    its relevant items. Test items unseen during fit count as misses.

    Parameters
    ----------
    estimator : skmatch model or Pipeline ending in one
        Fitted.
    X_test : DataFrame or Interactions
        Held-out interactions, e.g. the test rows of ``LeaveLastOut``.
    k : int or iterable of int, default (10, 20)
        Cut-offs.

    Returns
    -------
    dict of str -> float
        ``recall@k``, ``ndcg@k``, ``hit_rate@k``, ``mrr@k``, ``precision@k`` and
        ``coverage@k`` (share of the catalogue recommended to someone) for every k.
    """
    ks = sorted({check_k(v) for v in ([k] if np.isscalar(k) else k)})
    if not ks:
        raise ValueError("k must name at least one cut-off.")
    model = _matcher(estimator)
    targets, pos = model.rank_test(X_test, max(ks))
    out: dict[str, float] = {}
    for kk in ks:
        for name, fn in _METRICS.items():
            out[f"{name}@{kk}"] = float(fn(targets, pos, kk))
        out[f"coverage@{kk}"] = float(coverage(pos, model.n_items_, k=kk))
    return out


def make_ranking_scorer(metric: str = "ndcg", k: int = 10) -> Callable:
    """A scorer for ``GridSearchCV(scoring=...)`` / ``cross_validate``.

    Parameters
    ----------
    metric : {"recall", "ndcg", "hit_rate", "mrr", "precision"}, default "ndcg"
    k : int, default 10

    Returns
    -------
    callable
        ``scorer(estimator, X, y=None) -> float``, greater is better.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}.")
    k = check_k(k)
    fn = _METRICS[metric]

    def scorer(estimator, X, y=None) -> float:
        targets, pos = _matcher(estimator).rank_test(X, k)
        return float(fn(targets, pos, k))

    scorer.__name__ = f"{metric}_at_{k}_scorer"
    return scorer
