"""Torch building blocks (no scikit-learn or pandas here)."""

from skmatch.nn.embedding import FeatureEmbedding, masked_mean
from skmatch.nn.losses import listwise_loss, pairwise_loss, pointwise_loss
from skmatch.nn.mlp import MLP

__all__ = [
    "MLP",
    "FeatureEmbedding",
    "listwise_loss",
    "masked_mean",
    "pairwise_loss",
    "pointwise_loss",
]
