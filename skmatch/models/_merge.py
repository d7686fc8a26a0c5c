"""Merge per-interest top-k lists into one list per user."""

from __future__ import annotations

import numpy as np


def merge_interests(pos: np.ndarray, scores: np.ndarray, k: int):
    """Best ``k`` distinct items per row of concatenated per-interest results.

    An item's score is its best interest's score; ties are broken by lower position.

    Parameters
    ----------
    pos : ndarray of shape (n, m)
        Item positions (-1 = padding).
    scores : ndarray of shape (n, m), float32
    k : int

    Returns
    -------
    pos, scores : ndarray of shape (n, k)
    """
    n, m = pos.shape
    rows = np.repeat(np.arange(n), m)
    p, s = pos.ravel(), scores.ravel()
    valid = p >= 0
    rows, p, s = rows[valid], p[valid], s[valid]
    order = np.lexsort((-s, p, rows))  # by row, item, best score first
    rows, p, s = rows[order], p[order], s[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (p[1:] != p[:-1])
    rows, p, s = rows[first], p[first], s[first]
    order = np.lexsort((p, -s, rows))
    rows, p, s = rows[order], p[order], s[order]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(rows.size) - starts[rows]
    keep = rank < k
    out_p = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    out_p[rows[keep], rank[keep]] = p[keep]
    out_s[rows[keep], rank[keep]] = s[keep]
    return out_p, out_s
