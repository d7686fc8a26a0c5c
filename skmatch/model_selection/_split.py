"""Cross-validation splitters over the rows of a table of interactions.

The splitters yield positional row indices ``(train, test)``, like every scikit-learn
splitter, so they work as ``cv=`` in :class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_validate` over a raw DataFrame of interactions (one
row per event). ``split`` also takes an ``Interactions`` object (anything with
``user_codes`` and ``times`` attributes), whose rows :meth:`Interactions.subset` takes;
scikit-learn's search tools index ``X`` themselves, so give them the DataFrame. Time
order is ``(time, row position)``: among equal times a later row is later. Without a
time column, row order is the time.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator

from skmatch.exceptions import DataError, format_values
from skmatch.features import key_ids
from skmatch.utils._checks import (
    DEFAULT_TIME_COL,
    as_float,
    check_frame,
    check_k,
    check_no_missing,
    check_times,
)
from skmatch.utils._ordering import last_n_mask, time_ranks

__all__ = ["LeaveLastOut", "TemporalSplit", "leave_last_out_split"]

_SHORT_USERS = ("train", "drop", "error")


def _positive_rows(X: Any, label_col: str | None) -> np.ndarray:
    """Rows that are events (label > 0); all rows without labels."""
    if not isinstance(X, pd.DataFrame):  # its own labels, unless label_col=None
        labels = None if label_col is None else getattr(X, "labels", None)
        n_rows = _interaction_users(X).shape[0]
    else:
        labels = None
        n_rows = len(X)
        if label_col is not None and label_col in X.columns:  # parsed as FeatureSpec does
            labels = as_float(X[label_col], label_col, allow_nan=False)
    if labels is None:
        return np.ones(n_rows, dtype=bool)
    return np.asarray(labels) > 0


def _interaction_users(X: Any) -> np.ndarray:
    """One int64 key per row of an ``Interactions`` object that tells users apart: its
    ``user_keys()`` (all users outside the vocabulary share code 1, so codes alone would
    merge them into one user), or its ``user_codes`` for objects without them."""
    return X.user_keys() if hasattr(X, "user_keys") else np.asarray(X.user_codes)


def _shown_ids(X: Any, keys: np.ndarray) -> tuple[str, list]:
    """What to call ``keys`` in a message, and their raw ids where ``X`` can decode them."""
    if isinstance(X, pd.DataFrame):
        return "user ids", keys.tolist()
    spec = getattr(X, "spec", None)
    if spec is None or not hasattr(X, "user_keys"):
        return "user codes", keys.tolist()
    return "user ids", key_ids(spec, keys, X.new_users).tolist()


def _users_and_times(X: Any, user_col: str | None, time_col: str | None, name: str):
    """Return ``(users, times, n_rows)`` from a DataFrame or an ``Interactions`` object."""
    if not isinstance(X, pd.DataFrame) and hasattr(X, "user_codes"):
        users = _interaction_users(X)
        times = getattr(X, "times", None)
        if users.shape[0] == 0:
            raise DataError(f"{name}: X holds no interactions; at least one row is needed.")
        return users, (None if times is None else np.asarray(times)), users.shape[0]
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{name}: X must be a pandas DataFrame of interactions (one row per event) or an "
            f"Interactions object, got {type(X).__name__}."
        )
    X = check_frame(X, required=[user_col] if user_col is not None else [])
    users = None
    if user_col is not None:
        check_no_missing(X[user_col], user_col)
        users = X[user_col].to_numpy()
    times = None
    if time_col is not None and time_col in X.columns:
        times = check_times(X[time_col], time_col)
    elif time_col is not None and time_col != DEFAULT_TIME_COL:  # as FeatureSpec: only
        raise DataError(  # the default may be absent (then row order is time order)
            f"{name}: time_col={time_col!r} is not a column of X (columns: "
            f"{format_values(list(X.columns), 10)}). Pass time_col=None to use row order."
        )
    return users, times, len(X)


class _SingleSplitMixin:
    """``get_n_splits`` and a ``__repr__`` listing the parameters in signature order."""

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return the number of splits, always 1.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API compatibility.

        Returns
        -------
        n_splits : int
            1.
        """
        return 1

    def __repr__(self) -> str:
        params = inspect.signature(type(self).__init__).parameters
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in params if p != "self")
        return f"{type(self).__name__}({args})"


class LeaveLastOut(_SingleSplitMixin, BaseCrossValidator):
    """Hold out each user's last ``n_test`` interactions: one train/test split.

    For every user, its last ``n_test`` rows in time order are test rows and its other rows
    are train rows. Time order is ``(time_col, row position)``: among equal times a later row
    is later. When ``time_col`` is not a column of ``X`` (or is None), row order is the time.
    This is the default evaluation protocol of skmatch.

    With a label column (rows labelled ``<= 0`` are explicit negatives), the held-out
    events are each user's last ``n_test`` *positive* rows, and the user's rows from the
    first of them on (the negatives among them included) are test rows: no user is left
    without a relevant test item, and no later event leaks into train. Evaluation ignores
    the negatives of the test rows. (The models' early stopping holds out the same
    positive but keeps the later negatives in training.)

    Parameters
    ----------
    n_test : int, default=1
        Number of test interactions per user.
    user_col : str, default="user_id"
        Column holding the user ids (ignored for an ``Interactions`` object).
    time_col : str or None, default="timestamp"
        Column holding the event times (numeric or datetime). Row order is used when
        ``time_col`` is None, or when the default ``"timestamp"`` is absent; another
        name that is not a column raises a ``DataError``.
    label_col : str or None, default="label"
        Column of explicit labels, used when present (as ``FeatureSpec.label_col``); an
        ``Interactions`` object's own labels are used whatever the name. None: every row
        is a positive, for either kind of ``X``.
    short_users : {"train", "drop", "error"}, default="train"
        What to do with users that have ``<= n_test`` (positive) interactions and so cannot
        be split:
        ``"train"`` keeps all their rows in train, ``"drop"`` leaves their rows out of both
        sides (both warn with a :class:`UserWarning` naming how many users and the first
        ids), ``"error"`` raises a :class:`ValueError`.

    See Also
    --------
    leave_last_out_split : The same split, returning the two DataFrames.
    TemporalSplit : A global cut by time instead of a per-user one.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmatch.model_selection import LeaveLastOut
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 1, 2],
    ...                    "item_id": [10, 11, 10, 12, 13],
    ...                    "timestamp": [1, 5, 2, 3, 9]})
    >>> cv = LeaveLastOut()
    >>> cv  # doctest: +NORMALIZE_WHITESPACE
    LeaveLastOut(n_test=1, user_col='user_id', time_col='timestamp', label_col='label',
                 short_users='train')
    >>> train, test = next(cv.split(df))
    >>> train, test
    (array([0, 2, 3]), array([1, 4]))
    """

    def __init__(
        self,
        n_test: int = 1,
        *,
        user_col: str = "user_id",
        time_col: str | None = "timestamp",
        label_col: str | None = "label",
        short_users: str = "train",
    ) -> None:
        self.n_test = n_test
        self.user_col = user_col
        self.time_col = time_col
        self.label_col = label_col
        self.short_users = short_users

    def _masks(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return boolean ``(train, test)`` row masks."""
        n_test = check_k(self.n_test, "n_test")
        if self.short_users not in _SHORT_USERS:
            raise ValueError(
                f"short_users must be one of {_SHORT_USERS}, got {self.short_users!r}."
            )
        if self.user_col is None and not hasattr(X, "user_codes"):
            raise ValueError("user_col must name the user column, got None.")
        users, times, n_rows = _users_and_times(X, self.user_col, self.time_col, "LeaveLastOut")
        positive = _positive_rows(X, self.label_col)
        codes, uniques = pd.factorize(users, use_na_sentinel=False)
        counts = np.bincount(codes[positive], minlength=uniques.size)  # positives per user
        short_row = counts[codes] <= n_test
        # test: each user's rows from its n_test-th last positive on (without labels,
        # its last n_test rows), negatives included
        rows = np.arange(n_rows)
        keys = (rows,) if times is None else (rows, time_ranks(times))
        rank = np.empty(n_rows, dtype=np.int64)
        rank[np.lexsort((*keys, codes))] = rows  # position in (user, time, row) order
        held = np.flatnonzero(positive)  # increasing: row order kept for ties
        held_times = None if times is None else np.asarray(times)[held]
        held = held[last_n_mask(codes[held], held_times, n_test)]
        cut = np.full(uniques.size, n_rows, dtype=np.int64)
        np.minimum.at(cut, codes[held], rank[held])
        test = (rank >= cut[codes]) & ~short_row
        train = ~test
        if short_row.any():
            n_short = int((counts <= n_test).sum())
            what, short_ids = _shown_ids(X, np.asarray(uniques)[counts <= n_test][:6])
            kind = "interaction(s)" if positive.all() else "positive interaction(s)"
            message = (
                f"{n_short} user(s) have at most n_test={n_test} {kind} and "
                f"cannot be split ({what} {format_values(short_ids)})"
            )
            if self.short_users == "error":
                raise ValueError(
                    f"{message}. Filter them out first, or pass short_users='train' (keep their "
                    "rows in train) or 'drop'."
                )
            if self.short_users == "drop":
                train &= ~short_row
                warnings.warn(
                    f"{message}; their {int(short_row.sum())} row(s) are dropped from train and "
                    "test (short_users='drop').",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                warnings.warn(
                    f"{message}; their {int(short_row.sum())} row(s) are kept in train "
                    "(short_users='train').",
                    UserWarning,
                    stacklevel=3,
                )
        if not test.any():
            raise DataError("LeaveLastOut produced an empty test set: no user can be split.")
        return train, test

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate the positional indices of the train and test rows.

        Parameters
        ----------
        X : DataFrame or Interactions
            The interactions, one row per event, with ``user_col`` (and optionally
            ``time_col``) columns; or an object with ``user_codes`` and ``times``.
        y, groups : object
            Ignored; present for API compatibility.

        Yields
        ------
        train : ndarray of int64
            Positions of the train rows, increasing.
        test : ndarray of int64
            Positions of the test rows, increasing.
        """
        train, test = self._masks(X)
        yield np.flatnonzero(train), np.flatnonzero(test)


class TemporalSplit(_SingleSplitMixin, BaseCrossValidator):
    """Hold out the latest interactions of the whole table: one train/test split.

    The latest ``test_size`` rows in time order (``(time_col, row position)``: among equal
    times a later row is later) are test rows, all others train rows. When ``time_col`` is
    not a column of ``X`` (or is None), row order is the time.

    Parameters
    ----------
    test_size : float or int, default=0.2
        A float in (0, 1) is the fraction of rows in test (rounded up); an int is the number
        of test rows (at least 1 and fewer than the number of rows).
    time_col : str or None, default="timestamp"
        Column holding the event times (numeric or datetime).

    See Also
    --------
    LeaveLastOut : A per-user holdout of the latest interactions.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmatch.model_selection import TemporalSplit
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 1, 2],
    ...                    "timestamp": [1, 5, 2, 5, 3]})
    >>> train, test = next(TemporalSplit(test_size=2).split(df))
    >>> train, test
    (array([0, 2, 4]), array([1, 3]))
    """

    def __init__(self, test_size: float | int = 0.2, *, time_col: str | None = "timestamp"):
        self.test_size = test_size
        self.time_col = time_col

    def _n_test(self, n_rows: int) -> int:
        size = self.test_size
        if isinstance(size, bool) or not isinstance(size, Real):
            raise TypeError(
                f"test_size must be a float in (0, 1) or a positive int, got {size!r} "
                f"({type(size).__name__})."
            )
        if isinstance(size, Integral):
            if not 1 <= size < n_rows:
                raise ValueError(
                    f"test_size={size} must be at least 1 and less than the number of rows "
                    f"({n_rows})."
                )
            return int(size)
        if not 0.0 < size < 1.0:
            raise ValueError(f"test_size={size} must be in the open interval (0, 1) as a float.")
        n_test = int(np.ceil(size * n_rows))
        if n_test >= n_rows:
            raise ValueError(
                f"test_size={size} puts all {n_rows} row(s) in test; train would be empty."
            )
        return n_test

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate the positional indices of the train and test rows.

        Parameters
        ----------
        X : DataFrame or Interactions
            The interactions, one row per event; or an object with ``user_codes`` and
            ``times``.
        y, groups : object
            Ignored; present for API compatibility.

        Yields
        ------
        train : ndarray of int64
            Positions of the train rows, increasing.
        test : ndarray of int64
            Positions of the test rows, increasing.
        """
        _, times, n_rows = _users_and_times(X, None, self.time_col, "TemporalSplit")
        n_test = self._n_test(n_rows)
        rows = np.arange(n_rows)
        order = rows if times is None else np.lexsort((rows, time_ranks(times)))
        test = np.zeros(n_rows, dtype=bool)
        test[order[n_rows - n_test :]] = True
        yield np.flatnonzero(~test), np.flatnonzero(test)


def leave_last_out_split(
    X: pd.DataFrame,
    n_test: int = 1,
    *,
    user_col: str = "user_id",
    time_col: str | None = "timestamp",
    label_col: str | None = "label",
    short_users: str = "train",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a DataFrame of interactions into train and test by :class:`LeaveLastOut`.

    Parameters
    ----------
    X : DataFrame
        The interactions, one row per event.
    n_test : int, default=1
        Number of test interactions per user.
    user_col : str, default="user_id"
        Column holding the user ids.
    time_col : str or None, default="timestamp"
        Column holding the event times; row order is used when None or when the default
        ``"timestamp"`` is absent (another missing name is an error).
    label_col : str or None, default="label"
        Explicit labels, used when present: the held-out events are positives, see
        :class:`LeaveLastOut`.
    short_users : {"train", "drop", "error"}, default="train"
        Handling of users with ``<= n_test`` interactions, see :class:`LeaveLastOut`.

    Returns
    -------
    train, test : DataFrame
        The rows of ``X`` in their original order (and with their original index).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmatch.model_selection import leave_last_out_split
    >>> df = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": [1, 2, 3, 4]})
    >>> train, test = leave_last_out_split(df)  # no timestamp column: row order
    >>> test
      user_id  item_id
    1       a        2
    3       b        4
    """
    X = check_frame(X)
    cv = LeaveLastOut(
        n_test, user_col=user_col, time_col=time_col, label_col=label_col,
        short_users=short_users,
    )  # fmt: skip
    train, test = next(cv.split(X))
    return X.iloc[train], X.iloc[test]
