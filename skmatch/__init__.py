"""skmatch: neural retrieval models for recommender systems with a scikit-learn API."""

__version__ = "0.1.0.dev0"

from skmatch.features import FeatureSpec
from skmatch.models import (
    DSSM,
    FaceBookDSSM,
    Popularity,
    YoutubeDNN,
    YoutubeSBC,
)

__all__ = [
    "DSSM",
    "FaceBookDSSM",
    "FeatureSpec",
    "Popularity",
    "YoutubeDNN",
    "YoutubeSBC",
    "__version__",
]
