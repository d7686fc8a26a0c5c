"""Files of the command line: interaction tables, user lists, ids typed as at fit time."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd

from skmatch.exceptions import DataError, format_values
from skmatch.features import Vocabulary

_COMPRESSED_CSV_SUFFIXES = (".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.zip")
_CSV_SUFFIXES = (".csv", *_COMPRESSED_CSV_SUFFIXES)
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(
        f"Cannot tell the format of {str(path)!r} from its extension: use a CSV file "
        f"({', '.join(_CSV_SUFFIXES)}) or a Parquet file ({', '.join(_PARQUET_SUFFIXES)})."
    )


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    return path


def read_table(path: str | Path, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file of interactions, chosen by its extension.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (optionally compressed, e.g. ``.csv.gz``), ``.parquet`` or ``.pq``.
    text_columns : sequence of str, default ()
        CSV columns read as text instead of inferring their type (ids to be typed later
        by :func:`coerce_ids`); absent ones are ignored.

    Returns
    -------
    DataFrame
    """
    path = _existing(path)
    if _kind(path) == "csv":
        header = pd.read_csv(path, nrows=0).columns
        dtype = {c: str for c in text_columns if c in header}
        return pd.read_csv(path, dtype=dtype or None)
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise ValueError(
            f"Reading the Parquet file {str(path)!r} needs pyarrow or fastparquet, and "
            "pandas can import neither here. Install one (pip install pyarrow) or convert "
            "the file to CSV."
        ) from exc


def read_users(path: str | Path, user_col: str) -> list:
    """User ids from a file: a CSV or Parquet with a ``user_col`` column, or one id a line.

    A text file whose first line names ``user_col`` (or holds a comma) is read as a CSV
    with a header; otherwise every non-blank line is one id.

    Parameters
    ----------
    path : str or Path
        The file.
    user_col : str
        The user column of a CSV or Parquet file.

    Returns
    -------
    list
        The ids in file order, missing values dropped; ids read from text are strings
        (type them with :func:`coerce_ids`).
    """
    path = _existing(path)
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES + _COMPRESSED_CSV_SUFFIXES):
        frame = read_table(path, text_columns=[user_col])
    else:
        with path.open(newline="") as f:
            first = f.readline().strip()
        header = next(csv.reader([first]), [])
        if user_col not in header and "," not in first:
            ids = [line.strip() for line in path.read_text().splitlines()]
            return [i for i in ids if i]
        frame = pd.read_csv(path, dtype={user_col: str} if user_col in header else None)
    if user_col not in frame.columns:
        raise DataError(
            f"{str(path)!r} has no user column {user_col!r}; its columns are "
            f"{format_values(list(frame.columns), 10)}. Pass --user-col, or give one id a "
            "line with no header."
        )
    return frame[user_col].dropna().tolist()


def coerce_ids(values, vocab: Vocabulary) -> np.ndarray:
    """Give ids read as text the type of the vocabulary's ids (``"7"`` -> ``7``).

    Values that do not convert are kept as given, so that the model's own error names
    them as unknown ids.

    Parameters
    ----------
    values : iterable
        Ids, as strings or already typed.
    vocab : Vocabulary
        The fitted vocabulary (``FeatureSpec.users_`` or ``items_``).

    Returns
    -------
    ndarray of object
    """
    cats = vocab.categories
    kind = cats.dtype.kind
    if kind in "iu":
        convert = _to_int
    elif kind == "f":
        convert = float
    else:  # strings, bools or a mix: match on the text form
        by_text = {str(c): c for c in cats}

        def convert(value):
            return by_text[str(value)]

    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        try:
            out[i] = convert(value.strip() if isinstance(value, str) else value)
        except (KeyError, TypeError, ValueError, OverflowError):
            out[i] = value
    return out


def _to_int(value) -> int:
    if isinstance(value, str | Integral):
        return int(value)
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not an integer id.")
    return int(number)


def parse_times(frame: pd.DataFrame, time_col: str | None) -> pd.DataFrame:
    """Parse a text time column (``"2024-01-31 12:00"``) of a CSV as datetimes."""
    if not time_col or time_col not in frame.columns:
        return frame
    values = frame[time_col]
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return frame
    # offsets that differ between rows (a DST change) fail or stay objects without utc:
    # then one timeline, in UTC
    for utc in (False, True):
        try:
            parsed = pd.to_datetime(values, format="mixed", utc=utc)
        except (TypeError, ValueError):
            continue
        if parsed.dtype != object:
            return frame.assign(**{time_col: parsed})
    return frame  # left to FeatureSpec, whose error names the column
