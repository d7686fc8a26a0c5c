"""FeatureSpec <-> plain data (JSON-able dict + numpy arrays), for pickle-free saving."""

from __future__ import annotations

import numpy as np

from skmatch.features._spec import FeatureSpec
from skmatch.features._vocab import Vocabulary


def _jsonable(values) -> list:
    out = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if not isinstance(v, str | int | float | bool):
            raise TypeError(
                f"Only int, float, bool and str ids and categories can be saved without "
                f"pickle; found {v!r} ({type(v).__name__}). Use joblib.dump instead."
            )
        out.append(v)
    return out


def spec_to_state(spec: FeatureSpec) -> tuple[dict, dict[str, np.ndarray]]:
    """The fitted spec as a JSON-able dict and a dict of arrays."""
    params = spec.get_params()
    params["user_features"] = list(params["user_features"])
    params["item_features"] = list(params["item_features"])
    meta = {
        "params": params,
        "users": _jsonable(spec.users_.categories),
        "items": _jsonable(spec.items_.categories),
        "vocabularies": {k: _jsonable(v.categories) for k, v in spec.vocabularies_.items()},
        "feature_kinds": spec.feature_kinds_,
        "feature_dtypes": getattr(spec, "feature_dtypes_", {}),  # older pickles lack it
        "max_tokens": spec.max_tokens_,
        "dense_stats": spec.dense_stats_,
        "time_col": spec.time_col_,
        "feature_names_in": _jsonable(spec.feature_names_in_),
    }
    arrays = {f"item:{k}": v for k, v in spec.item_table_.items()}
    arrays.update({f"user:{k}": v for k, v in spec.user_table_.items()})
    return meta, arrays


def spec_from_state(meta: dict, arrays: dict[str, np.ndarray]) -> FeatureSpec:
    """Rebuild a fitted spec from :func:`spec_to_state`'s output."""
    params = dict(meta["params"])
    params["user_features"] = tuple(params["user_features"])
    params["item_features"] = tuple(params["item_features"])
    spec = FeatureSpec(**params)
    spec.time_col_ = meta["time_col"]
    spec.users_ = Vocabulary(meta["users"])
    spec.items_ = Vocabulary(meta["items"])
    spec.n_users_ = len(spec.users_.categories)
    spec.n_items_ = len(spec.items_.categories)
    spec.vocabularies_ = {k: Vocabulary(v) for k, v in meta["vocabularies"].items()}
    spec.feature_kinds_ = dict(meta["feature_kinds"])
    # files written before the check are loaded without it
    spec.feature_dtypes_ = dict(meta.get("feature_dtypes", {}))
    spec.max_tokens_ = dict(meta["max_tokens"])
    spec.dense_stats_ = {k: tuple(v) for k, v in meta["dense_stats"].items()}
    spec.item_table_ = {k[5:]: v for k, v in arrays.items() if k.startswith("item:")}
    spec.user_table_ = {k[5:]: v for k, v in arrays.items() if k.startswith("user:")}
    spec.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    spec.n_features_in_ = len(spec.feature_names_in_)
    return spec
