"""Input validation shared by FeatureSpec, splitters and estimators."""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral

import numpy as np
import pandas as pd

from skmatch.exceptions import DataError, format_values

# the time column FeatureSpec and the splitters read when none is named
DEFAULT_TIME_COL = "timestamp"


def check_frame(X, *, name: str = "X", required: Iterable[str] = ()) -> pd.DataFrame:
    """Check that ``X`` is a non-empty DataFrame holding the ``required`` columns."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame of interactions (one row per event), "
            f"got {type(X).__name__}."
        )
    if len(X) == 0:
        raise DataError(f"{name} is an empty DataFrame: at least one interaction is needed.")
    missing = [c for c in required if c not in X.columns]
    if missing:
        raise DataError(
            f"{name} lacks {len(missing)} required column(s) {format_values(missing)}; "
            f"it has {format_values(list(X.columns), 10)}. Rename the columns or set the "
            "matching *_col / *_features parameters."
        )
    return X


def check_no_missing(values: pd.Series, column: str) -> None:
    """Raise a :class:`DataError` naming the rows where an id column is missing."""
    bad = values.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"Column {column!r} has {rows.size} missing value(s) (NaN/None) at row "
            f"position(s) {format_values(rows.tolist())}. Drop or fill those rows first."
        )


def check_k(k, name: str = "k") -> int:
    """Validate a positive integer cut-off."""
    if isinstance(k, bool) or not isinstance(k, Integral | np.integer):
        raise TypeError(f"{name} must be a positive integer, got {k!r} ({type(k).__name__}).")
    if k <= 0:
        raise ValueError(f"{name} must be a positive integer, got {k}.")
    return int(k)


def check_times(values: pd.Series, column: str) -> np.ndarray:
    """Turn a time column into int64/float64 numbers that sort like the times."""
    check_no_missing(values, column)
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dtype, "tz", None) is not None:  # aware: the UTC instants
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        raise DataError(
            f"Time column {column!r} must be numeric or datetime, got dtype {values.dtype} "
            f"(first values {format_values(values.head().tolist())}). Convert it with "
            "pandas.to_datetime or pass time_col=None to use row order."
        )
    arr = values.to_numpy()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr))
        raise DataError(
            f"Time column {column!r} has {rows.size} non-finite value(s) at row position(s) "
            f"{format_values(rows.tolist())}."
        )
    return arr


def as_float(values: pd.Series, name: str, allow_nan: bool = True) -> np.ndarray:
    """A numeric column as float64; a clear error names it when it is not numeric (or,
    with ``allow_nan=False``, holds missing or infinite values)."""
    try:
        arr = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"Column {name!r} must be numeric, got dtype {values.dtype} (first values "
            f"{format_values(values.head().tolist())})."
        ) from exc
    if not allow_nan and not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr))
        raise DataError(
            f"Column {name!r} has {rows.size} missing or infinite value(s) at row "
            f"position(s) {format_values(rows.tolist())}."
        )
    return arr
