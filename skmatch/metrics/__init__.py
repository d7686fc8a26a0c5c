"""Ranking metrics for recommendation lists and scorers for model selection."""

from skmatch.metrics._evaluate import evaluate, make_ranking_scorer
from skmatch.metrics._ranking import (
    coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

__all__ = [
    "coverage",
    "evaluate",
    "hit_rate_at_k",
    "make_ranking_scorer",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]
