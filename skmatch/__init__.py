"""skmatch: neural retrieval models for recommender systems with a scikit-learn API.

``FeatureSpec`` and the estimators (:mod:`skmatch.models.registry`) are imported on
first use, so that ``import skmatch.metrics`` (or ``datasets``, ``model_selection``)
does not import torch.
"""

__version__ = "0.1.0.dev0"

from skmatch.models.registry import BY_NAME as _ESTIMATORS

__all__ = sorted(["FeatureSpec", "__version__", *_ESTIMATORS])


def __getattr__(name: str):
    if name == "FeatureSpec":
        from skmatch.features import FeatureSpec

        return FeatureSpec
    if name in _ESTIMATORS:
        from skmatch.models.registry import load

        return load(name)
    raise AttributeError(f"module 'skmatch' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
