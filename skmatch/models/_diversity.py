"""ComiRec's controllable aggregation: greedy re-ranking of merged interest results."""

from __future__ import annotations

import numpy as np

# Users re-ranked per block: bounds the (block, candidates, width, width) comparison.
_BLOCK = 2048


def category_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - Jaccard`` of category sets; padded code rows ``[..., W]`` (0 = none).

    For single-valued categories (``W = 1``) it is ``1`` when the categories differ, the
    ``delta(CATE(i) != CATE(j))`` of ComiRec. Two items without any category are at 0.
    """
    eq = (a[..., :, None] == b[..., None, :]) & (a[..., :, None] > 0)  # [..., W, W]
    inter = eq.sum((-1, -2))
    union = (a > 0).sum(-1) + (b > 0).sum(-1) - inter
    return np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)


def diversify(
    pos: np.ndarray, scores: np.ndarray, k: int, categories: np.ndarray, diversity: float
):
    """Pick ``k`` of each row's candidates greedily by score plus category diversity.

    Maximises ``sum_i f(u, i) + diversity * sum_{i < j} g(i, j)`` over the chosen set one
    item at a time (Cen et al., KDD 2020, Eq. 12), with ``g`` the
    :func:`category_distance`: at each step the candidate with the highest
    ``f(u, c) + diversity * sum_{s chosen} g(c, s)`` is added.

    Parameters
    ----------
    pos : ndarray of shape (n, m)
        Distinct candidate item positions per row (-1 = padding), e.g. merged results.
    scores : ndarray of shape (n, m)
        Their scores ``f(u, c)`` (each item's best interest's score).
    k : int
    categories : ndarray of shape (n_items, W)
        Category codes of every item position (0 = none).
    diversity : float
        ``lambda`` >= 0; 0 keeps the ranking by score.

    Returns
    -------
    pos, scores : ndarray of shape (n, k)
        The chosen items in the order picked, with their scores ``f``.
    """
    n, m = pos.shape
    out_p = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        p, s = pos[lo:hi], scores[lo:hi].astype(np.float64)
        rows = np.arange(hi - lo)
        cats = categories[np.clip(p, 0, None)]  # [b, m, W]
        open_ = p >= 0
        gain = np.zeros(p.shape)
        for step in range(min(k, m)):
            objective = np.where(open_, s + diversity * gain, -np.inf)
            best = objective.argmax(1)  # ties: the earlier (better-scored) candidate
            ok = open_[rows, best]
            out_p[lo + rows[ok], step] = p[rows[ok], best[ok]]
            out_s[lo + rows[ok], step] = s[rows[ok], best[ok]]
            open_[rows, best] = False
            gain += category_distance(cats, cats[rows, best][:, None, :])
    return out_p, out_s
