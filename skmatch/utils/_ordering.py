"""Per-user time order of rows: the ordering the splitters and the early-stopping
hold-out share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skmatch.exceptions import DataError, format_values
from skmatch.utils._checks import check_k


def time_ranks(times: Any) -> np.ndarray:
    """Return an array that sorts like ``times`` and that ``np.lexsort`` accepts."""
    times = np.asarray(times)
    if times.ndim != 1:
        raise ValueError(f"times must be 1-D, got shape {times.shape}.")
    if times.dtype.kind in "mM":
        if np.isnat(times).any():
            raise DataError(f"times has {int(np.isnat(times).sum())} missing value(s) (NaT).")
        return times.view(np.int64)
    if times.dtype.kind in "iub":
        return times
    if times.dtype.kind == "f" and not np.isnan(times).any():
        return times
    missing = pd.isna(times)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataError(
            f"times has {rows.size} missing value(s) at row position(s) "
            f"{format_values(rows.tolist())}."
        )
    codes, _ = pd.factorize(times, sort=True)  # any sortable values -> ordinal codes
    return codes


def last_n_mask(user_codes: Any, times: Any, n: int) -> np.ndarray:
    """Mark each user's last ``n`` rows in time order.

    Parameters
    ----------
    user_codes : array-like of shape (n_rows,)
        User key of every row: int codes or raw ids (ints, strings, mixed).
    times : array-like of shape (n_rows,) or None
        Time of every row (numbers, datetimes or any sortable values); None means row order.
    n : int
        How many rows to mark per user (all of them for users with ``<= n`` rows).

    Returns
    -------
    mask : ndarray of shape (n_rows,), bool
        True for the rows among the last ``n`` of their user, ordering by ``(time, row)``:
        among equal times the later row counts as later.

    Examples
    --------
    >>> from skmatch.utils._ordering import last_n_mask
    >>> last_n_mask(["a", "b", "a", "a"], [5, 1, 5, 3], n=1)
    array([False,  True,  True, False])
    """
    n = check_k(n, "n")
    users = np.asarray(user_codes)
    if users.ndim != 1:
        raise ValueError(f"user_codes must be 1-D, got shape {users.shape}.")
    n_rows = users.shape[0]
    small = users.dtype.kind in "iu" and (n_rows == 0 or 0 <= users.min() <= users.max())
    if small and (n_rows == 0 or users.max() <= 2 * n_rows):  # bincount over them is cheap
        codes = users.astype(np.int64, copy=False)
    else:
        codes, _ = pd.factorize(users, use_na_sentinel=False)
    rows = np.arange(n_rows)
    if times is None:
        order = np.lexsort((rows, codes))
    else:
        ranks = time_ranks(times)
        if ranks.shape[0] != n_rows:
            raise ValueError(
                f"times has {ranks.shape[0]} value(s) but user_codes has {n_rows}; pass one "
                "time per row."
            )
        order = np.lexsort((rows, ranks, codes))  # by user, then time, then row
    # In sorted order each user's rows form one block; a row is among the last n of its
    # block when the block's end offset minus its position is at most n.
    group_end = np.cumsum(np.bincount(codes))
    from_end = group_end[codes[order]] - np.arange(n_rows)  # 1 for a user's last row
    mask = np.empty(n_rows, dtype=bool)
    mask[order] = from_end <= n
    return mask
