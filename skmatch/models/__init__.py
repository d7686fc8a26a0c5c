"""Retrieval models: the Popularity baseline and the neural matchers."""

from skmatch.models._torch_base import TorchMatcher
from skmatch.models.base import BaseMatcher
from skmatch.models.popularity import Popularity
from skmatch.models.two_tower import DSSM, FaceBookDSSM, YoutubeDNN, YoutubeSBC

__all__ = [
    "DSSM",
    "BaseMatcher",
    "FaceBookDSSM",
    "Popularity",
    "TorchMatcher",
    "YoutubeDNN",
    "YoutubeSBC",
]
