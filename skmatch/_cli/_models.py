"""Model classes by name and ``key=value`` constructor parameters for the command line."""

from __future__ import annotations

import json
from collections.abc import Sequence

from skmatch import models
from skmatch.exceptions import format_values
from skmatch.models import BaseMatcher
from skmatch.models._params import ALIASES


def model_classes() -> dict[str, type[BaseMatcher]]:
    """The model classes of :mod:`skmatch.models` by class name, sorted."""
    return dict(sorted((cls.__name__, cls) for cls in models.all_estimators()))


def resolve_model(name: str) -> type[BaseMatcher]:
    """The model class called ``name`` (case-insensitive).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    classes = model_classes()
    by_lower = {k.lower(): v for k, v in classes.items()}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    raise ValueError(f"Unknown model {name!r}; choose one of: {', '.join(classes)}.")


def parse_params(pairs: Sequence[str], cls: type[BaseMatcher]) -> dict:
    """Constructor parameters of ``cls`` from ``key=value`` strings.

    Values are read as JSON where they parse (``16``, ``1e-3``, ``true``, ``null``,
    ``[64, 32]``, ``"1"``), else kept as strings (``cpu``); a list becomes a tuple where
    the default is a tuple. A later pair overrides an earlier one with the same key.

    Raises
    ------
    ValueError
        For a pair without ``=``, and for keys that are not parameters of ``cls`` (all of
        them named, with the valid ones).
    """
    defaults = cls().get_params(deep=False)
    params, unknown, spelled = {}, [], {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param expects key=value, got {pair!r}.")
        if key == "feature_spec":
            raise ValueError(
                "feature_spec cannot be set with --param: use --user-col, --item-col, "
                "--time-col, --max-seq-len, --user-features and --item-features."
            )
        name = ALIASES[key] if ALIASES.get(key) in defaults else key  # e.g. n_epoch=
        if spelled.setdefault(name, key) != key:  # as the constructors refuse it
            raise ValueError(
                f"Pass either {name!r} or its alias {spelled[name] if key == name else key!r}"
                ", not both."
            )
        key = name
        if key not in defaults:
            unknown.append(key)
            continue
        params[key] = _parse_value(raw, defaults[key])
    if unknown:
        valid = sorted(k for k in defaults if k != "feature_spec")
        raise ValueError(
            f"{cls.__name__} has no parameter(s) {format_values(unknown, 10)}; its "
            f"parameters are: {', '.join(valid)}."
        )
    return params


def _parse_value(raw: str, default):
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return value
