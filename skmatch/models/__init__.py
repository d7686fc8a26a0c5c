"""Retrieval models: the Popularity baseline and the neural matchers."""

from skmatch.models._discovery import all_estimators
from skmatch.models._torch_base import TorchMatcher
from skmatch.models.base import BaseMatcher
from skmatch.models.multi_interest import MIND, SINE, ComirecDR, ComirecSA
from skmatch.models.popularity import Popularity
from skmatch.models.sequential import NARM, STAMP, GRU4Rec, SASRec
from skmatch.models.two_tower import DSSM, FaceBookDSSM, YoutubeDNN, YoutubeSBC

__all__ = [
    "DSSM",
    "MIND",
    "NARM",
    "SINE",
    "STAMP",
    "BaseMatcher",
    "ComirecDR",
    "ComirecSA",
    "FaceBookDSSM",
    "GRU4Rec",
    "Popularity",
    "SASRec",
    "TorchMatcher",
    "YoutubeDNN",
    "YoutubeSBC",
    "all_estimators",
]
