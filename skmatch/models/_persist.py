"""save / load without pickle: one torch file of tensors, strings and numbers.

The file is read with ``torch.load(weights_only=True)``, which refuses to run code, so
loading a model file is safe in a way that unpickling is not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from skmatch import __version__
from skmatch.features import UserHistory, spec_from_state, spec_to_state

FORMAT = "skmatch-model"
FORMAT_VERSION = 1


def _to_tensors(arrays: dict) -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def _to_numpy(tensors: dict) -> dict:
    return {k: v.numpy() for k, v in tensors.items()}


_SPEC_KEY = "FeatureSpec"  # the feature_spec parameter, saved as its own parameters


def _json_params(est) -> str:
    params = est.get_params(deep=False)
    spec = params.pop("feature_spec", None)
    if spec is not None:  # the unfitted parameter (the fitted spec is saved apart)
        params["feature_spec"] = {_SPEC_KEY: spec.get_params(deep=False)}
    if isinstance(params.get("checkpoint_dir"), os.PathLike):
        params["checkpoint_dir"] = os.fspath(params["checkpoint_dir"])
    try:
        return json.dumps(_tag(params), default=_numpy_scalar)
    except TypeError as exc:
        raise TypeError(
            f"Parameters of {type(est).__name__} must be JSON-serialisable to save without "
            f"pickle ({exc}). Use joblib.dump instead."
        ) from exc


def _numpy_scalar(value):
    """numpy scalars (a grid's ``np.arange`` values, say) as the Python number they hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_TUPLE = "__tuple__"


def _tag(value):
    """Tuples as ``{"__tuple__": [...]}``, so that JSON keeps them apart from lists."""
    if isinstance(value, tuple):
        return {_TUPLE: [_tag(v) for v in value]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    return value


def _untag(value):
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(_untag(v) for v in value[_TUPLE])
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def _untuple(params: dict, defaults: dict) -> dict:
    """Files without tagged tuples (written before the tags): back to tuples where the
    default is one."""
    return {
        name: tuple(value)
        if isinstance(defaults.get(name), tuple) and isinstance(value, list)
        else value
        for name, value in params.items()
    }


def save_model(est, path) -> None:
    """Write a fitted model to ``path`` atomically (temporary file, then rename)."""
    est._check_fitted()
    spec_meta, spec_arrays = spec_to_state(est.feature_spec_)
    extra_meta, extra_arrays, module_state = est._state()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skmatch_version": __version__,
        "class": type(est).__name__,
        "params": _json_params(est),
        "tagged_params": True,  # tuples tagged (see _tag); older files are untagged
        "spec": json.dumps(spec_meta, default=_numpy_scalar),
        "spec_arrays": _to_tensors(spec_arrays),
        "history": _to_tensors({"indptr": est.history_.indptr, "items": est.history_.items}),
        "extra": json.dumps(extra_meta, default=_numpy_scalar),
        "arrays": _to_tensors(extra_arrays),
        "module": {k: v.detach().cpu() for k, v in (module_state or {}).items()},
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:  # no half-written temporary file left behind
        tmp.unlink(missing_ok=True)
        raise


def load_model(path, expected=None):
    """Read a model written by :func:`save_model` (never unpickles)."""
    from skmatch import models

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # corrupted, truncated, or not a torch file at all
        raise ValueError(
            f"{path} is not a readable skmatch model file ({type(exc).__name__}: {exc}). "
            "It may be corrupted or written by something else."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a skmatch model file.")
    if payload["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by skmatch {payload['skmatch_version']} in format version "
            f"{payload['format_version']}; this skmatch ({__version__}) reads up to version "
            f"{FORMAT_VERSION}. Upgrade skmatch."
        )
    cls = getattr(models, payload["class"], None)
    if cls is None:
        raise ValueError(f"{path} holds an unknown model class {payload['class']!r}.")
    if expected is not None and not issubclass(cls, expected):
        raise TypeError(f"{path} holds a {cls.__name__}, not a {expected.__name__}.")
    params = json.loads(payload["params"])
    if payload.get("tagged_params"):
        params = _untag(params)
    else:
        params = _untuple(params, cls().get_params(deep=False))
    saved_spec = params.get("feature_spec")
    if isinstance(saved_spec, dict) and _SPEC_KEY in saved_spec:
        from skmatch.features import FeatureSpec

        params["feature_spec"] = FeatureSpec(**saved_spec[_SPEC_KEY])
    est = cls(**params)
    spec = spec_from_state(json.loads(payload["spec"]), _to_numpy(payload["spec_arrays"]))
    est.feature_spec_ = spec
    hist = _to_numpy(payload["history"])
    est.history_ = UserHistory(hist["indptr"], hist["items"], len(spec.items_))
    est.n_users_, est.n_items_ = spec.n_users_, spec.n_items_
    est._restore(json.loads(payload["extra"]), _to_numpy(payload["arrays"]), payload["module"])
    est._build_index()
    return est
