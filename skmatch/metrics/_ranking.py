"""Top-k ranking metrics for recommendation lists.

Every metric compares, for each user, the set of relevant ids ``y_true[u]`` with the ranked
recommendations ``y_pred[u, :k]`` (best first). All work is vectorised over users: the ids of
both sides are factorised together into integers, each (user, id) pair becomes one int64 key
``row * n_unique + code`` and membership is a binary search of the recommended keys in the
sorted relevant keys. No Python loop runs per user.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skmatch.exceptions import format_values
from skmatch.utils._checks import check_k

__all__ = [
    "coverage",
    "hit_rate_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]


def _padding_mask(ids: np.ndarray) -> np.ndarray:
    """True where ``ids`` holds a padding sentinel: ``-1``, ``None`` or NaN."""
    kind = ids.dtype.kind
    if kind in "iu":
        return ids == -1
    if kind == "f":
        return np.isnan(ids) | (ids == -1)
    if kind == "O":
        # elementwise ``== -1`` on objects: strings and other ids compare False.
        return pd.isna(ids) | (ids == -1)
    return np.zeros(ids.shape, dtype=bool)


def _check_y_pred(y_pred: Any, k: int | None, name: str = "y_pred") -> np.ndarray:
    """Return the first ``k`` columns of ``y_pred`` as a 2-D array."""
    if isinstance(y_pred, pd.DataFrame):
        y_pred = y_pred.to_numpy()
    try:
        arr = np.asarray(y_pred)
        if arr.dtype.kind == "U" and not isinstance(y_pred, np.ndarray):
            # numpy turns mixed lists such as [[1, "x"]] or [["a", nan]] into strings
            # ("1", "nan"): keep the ids and the padding
            objects = np.asarray(y_pred, dtype=object)
            if pd.api.types.infer_dtype(objects.ravel(), skipna=False) != "string":
                arr = objects
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_users, >= k) of recommended ids; it "
            f"could not be converted to an array ({exc}). Pad short rows with -1 or None."
        ) from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_users, >= k) of recommended ids, got an "
            f"array with {arr.ndim} dimension(s) and shape {arr.shape}."
        )
    if k is not None and arr.shape[1] < k:
        raise ValueError(
            f"{name} has {arr.shape[1]} column(s) but k={k}: ask the recommender for at least "
            f"k items per user (y_pred must have shape (n_users, >= k))."
        )
    return arr if k is None else arr[:, :k]


def _flatten_y_true(y_true: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """Return ``(n_users, rows, ids)``: one (user row, relevant id) pair per entry.

    Padding entries (-1, None, NaN) and empty rows produce no pair.
    """
    if isinstance(y_true, pd.DataFrame):
        raise TypeError(
            "y_true must be a sequence of relevant-id arrays (one per user) or a 1-D array "
            "of single targets, got a DataFrame; pass one column (a Series) instead."
        )
    if isinstance(y_true, str | bytes) or not hasattr(y_true, "__iter__"):
        raise TypeError(
            "y_true must be a sequence of relevant-id arrays (one per user) or a 1-D array "
            f"of single targets, got {type(y_true).__name__}."
        )
    if isinstance(y_true, np.ndarray) and y_true.dtype != object:
        if y_true.ndim == 1:  # one target per user
            rows, ids = np.arange(y_true.shape[0]), y_true
            n_users = y_true.shape[0]
        elif y_true.ndim == 2:  # a rectangular block of relevant ids per user
            n_users, width = y_true.shape
            rows, ids = np.repeat(np.arange(n_users), width), y_true.ravel()
        else:
            raise ValueError(
                f"y_true must be 1-D (single targets) or a sequence of arrays, got an array "
                f"of shape {y_true.shape}."
            )
    else:
        if isinstance(y_true, pd.Series):
            series = y_true.reset_index(drop=True)
        else:
            series = pd.Series(list(y_true), dtype=object)
        n_users = len(series)
        if series.dtype == object:
            # ``explode`` (compiled code) turns every list-like into one row per element,
            # leaves scalars (including strings) alone and turns an empty row into NaN.
            series = series.explode()
        rows, ids = series.index.to_numpy(), series.to_numpy()
    keep = ~_padding_mask(ids)
    if not keep.all():
        rows, ids = rows[keep], ids[keep]
    return n_users, rows.astype(np.int64, copy=False), ids


def _encode(true_ids: np.ndarray, pred_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Map both id arrays to the integer codes of the relevant ids.

    Recommended ids that are relevant to nobody get code ``-1``. 1 and "1" are different ids.
    """
    true_codes, uniques = pd.factorize(true_ids)
    if uniques.dtype == object:
        # An Index built from a list infers int64 / str when the ids allow it, so that the
        # lookup below uses a typed hash table instead of Python objects.
        uniques = uniques.tolist()
    pred_codes = pd.Index(uniques).get_indexer(pred_ids)
    return true_codes.astype(np.int64, copy=False), pred_codes, len(uniques)


def _hit_matrix(y_true: Any, y_pred: Any, k: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(hits, n_relevant, k)``.

    ``hits`` is a boolean ``(n_users, k)`` array, True where the recommendation at that rank
    is relevant (padding and repeats of an earlier recommendation never hit); ``n_relevant``
    counts each user's distinct relevant ids.
    """
    k = check_k(k)
    pred = _check_y_pred(y_pred, k)
    n_users, true_rows, true_ids = _flatten_y_true(y_true)
    if n_users != pred.shape[0]:
        raise ValueError(
            f"y_true has {n_users} user(s) but y_pred has {pred.shape[0]} row(s); both must "
            "describe the same users in the same order."
        )
    valid = ~_padding_mask(pred)  # (n_users, k)
    pred_rows = np.broadcast_to(np.arange(n_users)[:, None], pred.shape)[valid]
    true_codes, pred_codes, n_unique = _encode(true_ids, pred[valid])

    # one sorted key per (user, id); duplicates inside a y_true row count once
    true_keys = np.sort(true_rows * n_unique + true_codes)
    if true_keys.size:
        true_keys = true_keys[np.r_[True, true_keys[1:] != true_keys[:-1]]]
    n_relevant = np.bincount(true_keys // max(n_unique, 1), minlength=n_users)

    # membership by binary search of each recommended key in the relevant keys
    pred_keys = pred_rows * n_unique + pred_codes
    found = pred_codes >= 0
    if found.any():
        pos = np.minimum(np.searchsorted(true_keys, pred_keys[found]), true_keys.size - 1)
        found[found] = true_keys[pos] == pred_keys[found]
    hits = np.zeros(pred.shape, dtype=bool)
    hits[valid] = found

    # A relevant id recommended twice counts at its first rank only; only rows with two or
    # more hits can hold such a repeat.
    multi = np.flatnonzero(hits.sum(axis=1) > 1)
    if multi.size:
        code_grid = np.full(pred.shape, -1, dtype=np.int64)
        code_grid[valid] = pred_codes
        code_grid = np.where(hits[multi], code_grid[multi], -1)  # (n_multi, k)
        order = np.argsort(code_grid, axis=1, kind="stable")  # earlier rank first among equals
        ranked = np.take_along_axis(code_grid, order, axis=1)
        repeat = np.zeros(ranked.shape, dtype=bool)
        repeat[:, 1:] = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
        is_repeat = np.zeros(ranked.shape, dtype=bool)
        np.put_along_axis(is_repeat, order, repeat, axis=1)
        hits[multi] &= ~is_repeat
    return hits, n_relevant, k


def _finish(per_user: np.ndarray, n_relevant: np.ndarray, average: bool) -> float | np.ndarray:
    """Mask users without relevant ids, then average or return the per-user array."""
    has_relevant = n_relevant > 0
    if not has_relevant.any():
        raise ValueError(
            f"None of the {n_relevant.size} user(s) in y_true has a relevant id: ranking "
            "metrics are undefined. Check that y_true is not empty or all padding."
        )
    per_user = np.where(has_relevant, per_user, np.nan).astype(np.float64, copy=False)
    if average:
        return float(per_user[has_relevant].mean())
    return per_user


_PARAMS_DOC = """
    Parameters
    ----------
    y_true : sequence of array-like, or array-like of shape (n_users,)
        Relevant ids per user: a list / object array / Series of id collections, or a 1-D
        array with one relevant id per user. Ids may be ints or strings; repeated ids in a
        row count once; padding entries (``-1``, ``None``, NaN) are ignored.
    y_pred : array-like of shape (n_users, >= k)
        Recommended ids per user, best first. Only the first ``k`` columns are used. Padding
        (``-1``, ``None`` or NaN) and repeats of an earlier recommendation never count as hits.
    k : int
        Cut-off: number of recommendations considered per user.
    average : bool, default=True
        Return the mean over users when True, else the per-user array.

    Returns
    -------
    score : float or ndarray of shape (n_users,), float64
        The mean over users that have at least one relevant id (users with an empty relevant
        set are excluded), or, with ``average=False``, one value per user with NaN for users
        without relevant ids.

    Raises
    ------
    ValueError
        If ``k`` is not positive, ``y_pred`` is not 2-D or has fewer than ``k`` columns,
        ``y_true`` and ``y_pred`` describe different numbers of users, or no user has a
        relevant id.
    TypeError
        If ``k`` is not an integer or ``y_true`` is not a sequence.
"""


def recall_at_k(y_true: Any, y_pred: Any, k: int, *, average: bool = True) -> float | np.ndarray:
    """Recall@k: the fraction of each user's relevant ids found in the top ``k``.

    ``recall = hits / |relevant|``, where ``hits`` is the number of distinct relevant ids among
    the first ``k`` recommendations.
    {params}
    Examples
    --------
    >>> from skmatch.metrics import recall_at_k
    >>> y_true = [[1, 2], [3]]
    >>> y_pred = [[1, 5, 2], [4, 6, -1]]
    >>> recall_at_k(y_true, y_pred, k=3)
    0.5
    >>> recall_at_k(y_true, y_pred, k=1, average=False)
    array([0.5, 0. ])
    """
    hits, n_relevant, _ = _hit_matrix(y_true, y_pred, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_user = hits.sum(axis=1) / n_relevant
    return _finish(per_user, n_relevant, average)


def precision_at_k(y_true: Any, y_pred: Any, k: int, *, average: bool = True) -> float | np.ndarray:
    """Precision@k: the fraction of the top ``k`` recommendations that are relevant.

    ``precision = hits / k`` (padding counts as a miss, the denominator stays ``k``).
    {params}
    Examples
    --------
    >>> from skmatch.metrics import precision_at_k
    >>> precision_at_k([[1, 2]], [[1, 5, 2, 7]], k=4)
    0.5
    """
    hits, n_relevant, k = _hit_matrix(y_true, y_pred, k)
    return _finish(hits.sum(axis=1) / k, n_relevant, average)


def hit_rate_at_k(y_true: Any, y_pred: Any, k: int, *, average: bool = True) -> float | np.ndarray:
    """Hit rate@k (HR@k): 1 if any relevant id is in the top ``k``, else 0.
    {params}
    Examples
    --------
    >>> from skmatch.metrics import hit_rate_at_k
    >>> hit_rate_at_k([3, 8], [[1, 3], [4, 5]], k=2)
    0.5
    """
    hits, n_relevant, _ = _hit_matrix(y_true, y_pred, k)
    return _finish(hits.any(axis=1).astype(np.float64), n_relevant, average)


def mrr_at_k(y_true: Any, y_pred: Any, k: int, *, average: bool = True) -> float | np.ndarray:
    """Mean reciprocal rank@k: ``1 / rank`` of the first relevant id within the top ``k``.

    ``rank`` is 1-based; a user with no hit in the top ``k`` scores 0.
    {params}
    Examples
    --------
    >>> from skmatch.metrics import mrr_at_k
    >>> mrr_at_k([[2, 9], [7]], [[1, 2, 9], [7, 1, 2]], k=3, average=False)
    array([0.5, 1. ])
    """
    hits, n_relevant, _ = _hit_matrix(y_true, y_pred, k)
    first = hits.argmax(axis=1)  # 0 when no hit: masked below
    per_user = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return _finish(per_user, n_relevant, average)


def ndcg_at_k(y_true: Any, y_pred: Any, k: int, *, average: bool = True) -> float | np.ndarray:
    """Normalised discounted cumulative gain@k with binary relevance.

    ``DCG = sum over hits in the top k of 1 / log2(rank + 1)`` (``rank`` 1-based) and
    ``IDCG = sum_{{r=1}}^{{min(|relevant|, k)}} 1 / log2(r + 1)``, the DCG of a perfect list;
    ``ndcg = DCG / IDCG``.
    {params}
    Examples
    --------
    >>> from skmatch.metrics import ndcg_at_k
    >>> round(ndcg_at_k([[1, 2]], [[1, 5, 2]], k=3), 6)  # (1 + 1/2) / (1 + 1/log2(3))
    0.919721
    """
    hits, n_relevant, k = _hit_matrix(y_true, y_pred, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # rank 1..k
    dcg = hits @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_user = dcg / ideal
    return _finish(per_user, n_relevant, average)


for _metric in (recall_at_k, precision_at_k, hit_rate_at_k, mrr_at_k, ndcg_at_k):
    _metric.__doc__ = _metric.__doc__.format(params=_PARAMS_DOC)
del _metric


def coverage(y_pred: Any, n_items: int, k: int | None = None) -> float:
    """Catalogue coverage: the fraction of the ``n_items`` items recommended at least once.

    Parameters
    ----------
    y_pred : array-like of shape (n_users, n_recommended)
        Recommended ids per user, best first; padding (``-1``, ``None``, NaN) is ignored.
    n_items : int
        Size of the catalogue.
    k : int, default=None
        Only the first ``k`` columns count; all columns when None.

    Returns
    -------
    coverage : float
        ``|distinct recommended ids| / n_items``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If more distinct ids are recommended than ``n_items`` (the catalogue size is wrong).

    Examples
    --------
    >>> from skmatch.metrics import coverage
    >>> coverage([[1, 2], [2, -1]], n_items=4)
    0.5
    """
    n_items = check_k(n_items, "n_items")
    if k is not None:
        k = check_k(k)
    pred = _check_y_pred(y_pred, k)
    ids = pred[~_padding_mask(pred)]
    if ids.dtype.kind not in "iufb":
        ids = ids.astype(object)
    distinct = pd.unique(ids)
    if distinct.size > n_items:
        raise ValueError(
            f"y_pred holds {distinct.size} distinct ids but n_items={n_items}; n_items must "
            f"be the catalogue size (first ids: {format_values(distinct.tolist())})."
        )
    return distinct.size / n_items
