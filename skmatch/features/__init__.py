"""Feature handling: vocabularies, side tables and history sequences."""

from skmatch.features._history import UserHistory
from skmatch.features._interactions import Interactions
from skmatch.features._spec import FeatureSpec
from skmatch.features._vocab import OOV, PAD, Vocabulary

__all__ = ["OOV", "PAD", "FeatureSpec", "Interactions", "UserHistory", "Vocabulary"]
