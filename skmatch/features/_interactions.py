"""Interactions: the encoded arrays a fitted FeatureSpec produces from a DataFrame."""

from __future__ import annotations

import numpy as np

from skmatch.features._history import UserHistory, gather_windows
from skmatch.features._vocab import OOV


class Interactions:
    """Encoded interactions, one entry per row of the source DataFrame.

    Built by :meth:`FeatureSpec.transform`; not meant to be constructed by hand.
    Memory is O(rows): histories are kept once per user as a time-ordered sequence
    with offsets, and windows are gathered per batch by :meth:`histories`.

    Attributes
    ----------
    spec : FeatureSpec
        The fitted spec that encoded these rows.
    user_codes, item_codes : ndarray of shape (n_rows,), int64
        Codes (0 padding, 1 out-of-vocabulary, 2.. known ids).
    times : ndarray of shape (n_rows,)
        Event times (row positions when the frame had no time column).
    labels : ndarray of shape (n_rows,) float32 or None
        Explicit 0/1 labels, when the frame had a label column.
    weights : ndarray of shape (n_rows,) float64 or None
        Non-negative sample weights, when the frame had a weight column.
    user_features : dict of str -> ndarray
        Per-row encoded user-side features ((n,) int64 sparse, (n, T) int64
        multi-valued, (n,) float32 dense).
    history : UserHistory
        Every known user's positive items in time order (ties broken by row order).
        Users outside the vocabulary (code 1) have none: their events are never merged
        into one sequence.
    positions : ndarray of shape (n_rows,), int64
        For each row, how many positive events of its user precede it.
    new_user_index : ndarray of shape (n_rows,), int64, or None
        For rows of users outside the vocabulary (code 1), the position of their raw id
        in ``new_users``; -1 for known users. None when every user is known. It keeps
        new users apart where they are queried or evaluated (they share code 1).
    new_users : ndarray of object or None
        Raw ids of those users, in order of first appearance.
    """

    def __init__(
        self,
        *,
        spec,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
        times: np.ndarray,
        labels: np.ndarray | None,
        weights: np.ndarray | None,
        user_features: dict[str, np.ndarray],
        new_user_index: np.ndarray | None = None,
        new_users: np.ndarray | None = None,
    ) -> None:
        self.spec = spec
        self.user_codes = user_codes
        self.item_codes = item_codes
        self.times = times
        self.labels = labels
        self.weights = weights
        self.user_features = user_features
        self.new_user_index = new_user_index
        self.new_users = new_users
        self._build_sequences()

    def _build_sequences(self) -> None:
        n = self.user_codes.size
        n_user_codes = max(len(self.spec.users_), int(self.user_codes.max(initial=0)) + 1)
        order = np.lexsort((np.arange(n), self.times, self.user_codes))
        users_sorted = self.user_codes[order]
        positive = np.ones(n, dtype=bool) if self.labels is None else self.labels[order] > 0
        # users outside the vocabulary (new ones, or below min_count) share code OOV: their
        # events never form one merged sequence; each such row has an empty history
        positive &= users_sorted != OOV
        counts = np.bincount(users_sorted[positive], minlength=n_user_codes)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.history = UserHistory(indptr, self.item_codes[order][positive], len(self.spec.items_))
        # the weight of each history event, aligned with history.items (None: unweighted)
        self.history_weights = (
            None if self.weights is None else self.weights[order][positive].astype(np.float32)
        )
        # positives strictly before each sorted row, within its user
        before = np.cumsum(positive) - positive
        first = np.searchsorted(users_sorted, users_sorted, side="left")
        positions = np.empty(n, dtype=np.int64)
        positions[order] = before - before[first]
        self.positions = positions
        self.order = order

    def __len__(self) -> int:
        return self.user_codes.size

    @property
    def max_seq_len(self) -> int:
        """History window of the spec."""
        return self.spec.max_seq_len

    def histories(self, rows=None, max_len: int | None = None) -> np.ndarray:
        """Items each row's user had before it: ``(n, max_len)`` int64, left-padded.

        Parameters
        ----------
        rows : array-like of int, optional
            Row positions (all rows when None).
        max_len : int, optional
            Window width (the spec's ``max_seq_len`` when None).
        """
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        max_len = self.max_seq_len if max_len is None else int(max_len)
        start = self.history.indptr[self.user_codes[rows]]
        return gather_windows(self.history.items, start, start + self.positions[rows], max_len)

    def user_histories(self, user_codes, max_len: int | None = None) -> np.ndarray:
        """The most recent items of each given user in these interactions."""
        max_len = self.max_seq_len if max_len is None else int(max_len)
        return self.history.last(user_codes, max_len)

    def unique_users(self) -> np.ndarray:
        """User codes present, in order of first appearance."""
        _, first = np.unique(self.user_codes, return_index=True)
        return self.user_codes[np.sort(first)]

    def user_keys(self) -> np.ndarray:
        """One key per row that tells users apart: the user code for known users, and
        ``-1 - k`` for the ``k``-th new user (all new users share code 1)."""
        return user_keys(self.user_codes, self.new_user_index)

    def subset(self, rows) -> Interactions:
        """The interactions of the given rows (histories rebuilt from those rows only)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Interactions(
            spec=self.spec,
            user_codes=self.user_codes[rows],
            item_codes=self.item_codes[rows],
            times=self.times[rows],
            labels=None if self.labels is None else self.labels[rows],
            weights=None if self.weights is None else self.weights[rows],
            user_features={k: v[rows] for k, v in self.user_features.items()},
            new_user_index=None if self.new_user_index is None else self.new_user_index[rows],
            new_users=self.new_users,
        )

    def __repr__(self) -> str:
        return (
            f"Interactions(n_rows={len(self)}, n_users={np.unique(self.user_codes).size}, "
            f"n_items={np.unique(self.item_codes).size}, max_seq_len={self.max_seq_len})"
        )


def user_keys(codes: np.ndarray, new_user_index: np.ndarray | None) -> np.ndarray:
    """Per-row keys: the user code, or ``-1 - k`` for the ``k``-th new user."""
    if new_user_index is None:
        return codes
    return np.where(new_user_index >= 0, -1 - new_user_index, codes)


def key_ids(spec, keys: np.ndarray, new_users) -> np.ndarray:
    """Raw user ids of keys (see :func:`user_keys`): decoded codes for known users, the
    ``k``-th of ``new_users`` for ``-1 - k``; an object array."""
    keys = np.asarray(keys, dtype=np.int64)
    ids = np.empty(keys.size, dtype=object)
    known = keys >= 0
    if known.any():
        ids[known] = spec.inverse_transform_users(keys[known])
    if not known.all():
        ids[~known] = np.asarray(new_users, dtype=object)[-1 - keys[~known]]
    return ids
