"""skmatch: neural retrieval models for recommender systems with a scikit-learn API."""

__version__ = "0.1.0.dev0"

from skmatch.features import FeatureSpec
from skmatch.models import (
    DSSM,
    MIND,
    NARM,
    SINE,
    STAMP,
    ComirecDR,
    ComirecSA,
    FaceBookDSSM,
    GRU4Rec,
    Popularity,
    SASRec,
    YoutubeDNN,
    YoutubeSBC,
)

__all__ = [
    "DSSM",
    "MIND",
    "NARM",
    "SINE",
    "STAMP",
    "ComirecDR",
    "ComirecSA",
    "FaceBookDSSM",
    "FeatureSpec",
    "GRU4Rec",
    "Popularity",
    "SASRec",
    "YoutubeDNN",
    "YoutubeSBC",
    "__version__",
]
