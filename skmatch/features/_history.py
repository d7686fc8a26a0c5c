"""Per-user, time-ordered item sequences stored as offsets (CSR), and window gathering."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def gather_windows(
    items: np.ndarray, start: np.ndarray, stop: np.ndarray, max_len: int, dtype=np.int64
):
    """Left-padded windows ``items[max(start, stop - max_len):stop]`` for every row.

    Parameters
    ----------
    items : ndarray of shape (n_events,)
        Concatenated sequences.
    start, stop : ndarray of shape (n,)
        Bounds of each window in ``items`` (``stop`` exclusive).
    max_len : int
        Width of the output; the most recent ``max_len`` items are kept.
    dtype : numpy dtype, default int64
        Of the output (float32 to gather per-event weights aligned with ``items``).

    Returns
    -------
    ndarray of shape (n, max_len)
        Item codes (or values), 0 (padding) on the left of short windows.
    """
    cols = np.arange(max_len, dtype=np.int64) - max_len  # [L] offsets -L..-1
    src = stop[:, None] + cols[None, :]  # [n, L]
    valid = src >= start[:, None]
    if items.size == 0:
        return np.zeros(src.shape, dtype=dtype)
    out = items[np.clip(src, 0, items.size - 1)]
    return np.where(valid, out, 0).astype(dtype, copy=False)


class UserHistory:
    """Each user's items in time order: ``items[indptr[u]:indptr[u + 1]]`` for user code u.

    Parameters
    ----------
    indptr : ndarray of shape (n_user_codes + 1,)
        Offsets into ``items``.
    items : ndarray of shape (n_events,)
        Item codes grouped by user, oldest first.
    n_item_codes : int
        Size of the item code space (for :meth:`to_csr`).
    """

    def __init__(self, indptr: np.ndarray, items: np.ndarray, n_item_codes: int) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        self.n_item_codes = int(n_item_codes)

    @property
    def n_users(self) -> int:
        """Size of the user code space."""
        return self.indptr.size - 1

    def lengths(self, user_codes=None) -> np.ndarray:
        """Number of events of each user (0 for codes beyond the table)."""
        lengths = np.diff(self.indptr)
        if user_codes is None:
            return lengths
        codes = np.asarray(user_codes, dtype=np.int64)
        inside = (codes >= 0) & (codes < self.n_users)
        return np.where(inside, lengths[np.clip(codes, 0, self.n_users - 1)], 0)

    def last(self, user_codes, max_len: int) -> np.ndarray:
        """The most recent ``max_len`` items of each user, left-padded: ``(n, max_len)``."""
        codes = np.asarray(user_codes, dtype=np.int64)
        inside = (codes >= 0) & (codes < self.n_users)
        safe = np.clip(codes, 0, self.n_users - 1)
        stop = np.where(inside, self.indptr[safe + 1], 0)
        start = np.where(inside, self.indptr[safe], 0)
        return gather_windows(self.items, start, stop, max_len)

    def take(self, user_codes) -> UserHistory:
        """The histories of the given users, as a new table indexed 0..n-1."""
        codes = np.asarray(user_codes, dtype=np.int64)
        lengths = self.lengths(codes)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        starts = np.where(lengths > 0, self.indptr[np.clip(codes, 0, self.n_users - 1)], 0)
        idx = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return UserHistory(indptr, self.items[idx], self.n_item_codes)

    def to_csr(self, user_codes=None) -> sp.csr_matrix:
        """Binary ``(n_users, n_item_codes)`` matrix of the users' items (rows as requested)."""
        hist = self if user_codes is None else self.take(user_codes)
        data = np.ones(hist.items.size, dtype=np.float32)
        mat = sp.csr_matrix(
            (data, hist.items, hist.indptr), shape=(hist.n_users, self.n_item_codes)
        )
        mat.sum_duplicates()
        mat.data[:] = 1.0
        return mat
