"""Retrieval models: the Popularity baseline and the neural matchers.

The estimators are imported on first use (as scikit-learn's subpackages do), from the
one list in :mod:`skmatch.models.registry`.
"""

from skmatch.models import registry
from skmatch.models.registry import all_estimators as all_estimators

_BASES = {"BaseMatcher": "skmatch.models.base", "TorchMatcher": "skmatch.models.neural"}

__all__ = sorted([*registry.BY_NAME, *_BASES, "all_estimators"])


def __getattr__(name: str):
    if name in registry.BY_NAME:
        return registry.load(name)
    if name in _BASES:
        import importlib

        return getattr(importlib.import_module(_BASES[name]), name)
    raise AttributeError(f"module 'skmatch.models' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
