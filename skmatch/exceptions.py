"""Exceptions raised by skmatch.

Every problem with the caller's input raises a :class:`ValueError` subclass (or a
:class:`TypeError` for an argument of the wrong type) whose message names the column or
argument, how many values are wrong, the first offending values, and what to do.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = ["DataError", "NotFittedError", "UnknownIdError", "format_values"]


class NotFittedError(_SklearnNotFittedError):
    """Raised when a method that needs a fitted estimator is called before ``fit``."""


class DataError(ValueError):
    """Raised for malformed input data: a missing column, NaN ids, an empty frame."""


class UnknownIdError(ValueError):
    """Raised for user or item ids that the fitted vocabulary does not know."""


def format_values(values, n_max: int = 5) -> str:
    """Render the first ``n_max`` offending values for an error message."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:n_max])
    return f"[{shown}{', ...' if len(values) > n_max else ''}]"
