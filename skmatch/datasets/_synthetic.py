"""Synthetic interaction sequences with planted, learnable structure."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = ["make_interactions"]

# Probability that a user's segment equals its first interest (else a uniform draw).
_SEGMENT_AGREEMENT = 0.8


def make_interactions(
    n_users: int = 1000,
    n_items: int = 500,
    n_interests: int = 5,
    *,
    interests_per_user: tuple[int, int] | None = None,
    seq_len: tuple[int, int] = (20, 60),
    p_transition: float = 0.6,
    p_switch: float = 0.1,
    popularity_skew: float = 1.0,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Generate interaction sequences with interest clusters and item-to-item transitions.

    The planted structure:

    - **Interest clusters.** The items are split at random into ``n_interests`` clusters of
      (nearly) equal size. An item's cluster is its ``category`` (``"c0"``, ``"c1"``, ...).
    - **Popularity.** Inside each cluster the items have a random popularity rank ``r``
      (0-based) and are drawn with probability proportional to ``(r + 1) ** -popularity_skew``
      (Zipf; ``0`` gives uniform draws).
    - **Transitions.** Inside each cluster, a random cyclic permutation gives every item a
      fixed *successor* (independent of popularity).
    - **Users.** Each user has ``k`` distinct random interests, ``k`` drawn uniformly from
      the inclusive range ``interests_per_user``, and a sequence length drawn uniformly from
      the inclusive range ``seq_len``. The sequence starts in the user's first interest with
      a popularity draw. At each later step the user switches, with probability
      ``p_switch``, to another of its interests (only if ``k > 1``) and makes a popularity
      draw there; otherwise, with probability ``p_transition`` the next item is the successor
      of the previous item, else a popularity draw in the current interest. Items may repeat.
    - **Segment.** A user-side feature ``segment`` (``"s0"``, ...) equal to the index of the
      user's first interest with probability 0.8, else uniform over the ``n_interests``
      values.
    - **Time.** Each user starts at a random second within 30 days; gaps between
      consecutive events are uniform integers in [60, 3600) seconds.

    So the next item is far more predictable from the history (the successor of the last
    item, or a popular item of the current cluster) than from global popularity counts; a
    correct sequential or multi-interest model must clearly beat :class:`Popularity` on it.

    Parameters
    ----------
    n_users : int, default=1000
        Number of users (>= 1).
    n_items : int, default=500
        Number of items (>= ``n_interests``).
    n_interests : int, default=5
        Number of item clusters (>= 1).
    interests_per_user : tuple of (int, int), optional
        Inclusive range of the number of interests per user, within [1, ``n_interests``];
        default ``(1, min(2, n_interests))``.
    seq_len : tuple of (int, int), default=(20, 60)
        Inclusive range of the number of interactions per user (>= 1).
    p_transition : float, default=0.6
        Probability, in [0, 1], that the next item is the successor of the previous one.
    p_switch : float, default=0.1
        Probability, in [0, 1], of switching to another of the user's interests at a step.
    popularity_skew : float, default=1.0
        Zipf exponent (>= 0) of the popularity inside a cluster.
    random_state : int, numpy.random.Generator or None, default=None
        Seed for :func:`numpy.random.default_rng`; no global random state is used.

    Returns
    -------
    interactions : pandas.DataFrame
        Columns ``user_id`` (``"u0"``, ...), ``item_id`` (``"i0"``, ...), ``timestamp``
        (int64 seconds, strictly increasing per user), ``category`` (item side) and
        ``segment`` (user side), sorted by user (``u0``, ``u1``, ...) then time.

    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> df = make_interactions(n_users=50, n_items=40, n_interests=2, random_state=0)
    >>> df.columns.tolist()
    ['user_id', 'item_id', 'timestamp', 'category', 'segment']
    >>> df["user_id"].nunique(), df["category"].nunique()
    (50, 2)
    >>> bool(df.groupby("user_id")["timestamp"].is_monotonic_increasing.all())
    True
    """
    _check_int("n_users", n_users, 1)
    _check_int("n_interests", n_interests, 1)
    _check_int("n_items", n_items, n_interests, f"n_interests={n_interests}")
    if interests_per_user is None:  # (1, 2), within the interests there are
        interests_per_user = (1, min(2, n_interests))
    k_low, k_high = _check_range("interests_per_user", interests_per_user, 1, n_interests)
    len_low, len_high = _check_range("seq_len", seq_len, 1, None)
    p_transition = _check_float("p_transition", p_transition, 0.0, 1.0)
    p_switch = _check_float("p_switch", p_switch, 0.0, 1.0)
    popularity_skew = _check_float("popularity_skew", popularity_skew, 0.0, None)
    rng = np.random.default_rng(random_state)

    # Items: clusters, popularity rank inside a cluster, successor cycle inside a cluster.
    by_popularity = rng.permutation(n_items)  # the j-th item in (cluster, rank) order
    cluster_of_slot = np.arange(n_items) * n_interests // n_items  # sorted, sizes differ <= 1
    sizes = np.bincount(cluster_of_slot, minlength=n_interests)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    item_cluster = np.empty(n_items, dtype=np.int64)
    item_cluster[by_popularity] = cluster_of_slot
    width = int(sizes.max())
    members = np.zeros((n_interests, width), dtype=np.int64)  # [C, W] items by rank
    members[cluster_of_slot, np.arange(n_items) - starts[cluster_of_slot]] = by_popularity
    ranks = np.arange(width)
    weights = np.where(ranks < sizes[:, None], (ranks + 1.0) ** -popularity_skew, 0.0)
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)  # [C, W]
    # Cluster c's cdf is shifted into (c, c + 1] so that one searchsorted serves all users.
    shifted_cdf = (cdf + np.arange(n_interests)[:, None]).ravel()

    cycle = np.lexsort((rng.random(n_items), item_cluster))  # grouped by cluster, random order
    cycle_cluster = item_cluster[cycle]
    offset = np.arange(n_items) - starts[cycle_cluster]
    successor = np.empty(n_items, dtype=np.int64)
    successor[cycle] = cycle[starts[cycle_cluster] + (offset + 1) % sizes[cycle_cluster]]

    # Users: interests (the first k columns of a random permutation), lengths, segment.
    n_user_interests = rng.integers(k_low, k_high + 1, size=n_users)
    interests = np.argsort(rng.random((n_users, n_interests)), axis=1)  # [U, C]
    lengths = rng.integers(len_low, len_high + 1, size=n_users)
    keep = rng.random(n_users) < _SEGMENT_AGREEMENT
    segment = np.where(keep, interests[:, 0], rng.integers(0, n_interests, size=n_users))
    clock = rng.integers(0, 30 * 86_400, size=n_users)

    users = np.arange(n_users)
    max_len = int(lengths.max())
    items = np.empty((n_users, max_len), dtype=np.int64)  # [U, T]
    times = np.empty((n_users, max_len), dtype=np.int64)  # [U, T]
    current = np.zeros(n_users, dtype=np.int64)  # index into the user's interests
    for t in range(max_len):  # vectorised over users; rows past a user's length are unused
        if t > 0:
            switch = (rng.random(n_users) < p_switch) & (n_user_interests > 1)
            shift = rng.integers(1, np.maximum(n_user_interests, 2))  # in [1, k - 1]
            current = np.where(switch, (current + shift) % n_user_interests, current)
            follow = (rng.random(n_users) < p_transition) & ~switch
            clock = clock + rng.integers(60, 3600, size=n_users)
        cluster = interests[users, current]
        slot = np.searchsorted(shifted_cdf, cluster + rng.random(n_users), side="right")
        rank = np.clip(slot - cluster * width, 0, sizes[cluster] - 1)
        drawn = members[cluster, rank]
        items[:, t] = np.where(follow, successor[items[:, t - 1]], drawn) if t > 0 else drawn
        times[:, t] = clock

    mask = np.arange(max_len) < lengths[:, None]  # [U, T]
    user = np.repeat(users, lengths)
    item = items[mask]
    return pd.DataFrame(
        {
            "user_id": _names("u", n_users)[user],
            "item_id": _names("i", n_items)[item],
            "timestamp": times[mask],
            "category": _names("c", n_interests)[item_cluster[item]],
            "segment": _names("s", n_interests)[segment[user]],
        }
    )


def _names(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(n).astype(str))


def _check_int(name: str, value, min_value: int, min_name: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}.")
    if value < min_value:
        bound = min_name or str(min_value)
        raise ValueError(f"{name} must be >= {bound}; got {name}={value!r}.")


def _check_float(name: str, value, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}.")
    value = float(value)
    upper = np.inf if high is None else high
    if not (np.isfinite(value) and low <= value <= upper):
        where = f"in [{low}, {high}]" if high is not None else f"finite and >= {low}"
        raise ValueError(f"{name} must be {where}; got {name}={value!r}.")
    return value


def _check_range(name: str, value, low: int, high: int | None) -> tuple[int, int]:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a pair (low, high) of ints; got {type(value).__name__} {value!r}."
        ) from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be a pair (low, high) of ints; got {value!r}.")
    upper = np.inf if high is None else high
    if not (low <= lo <= hi <= upper):
        bounds = f"{low} <= low <= high" + (f" <= {high}" if high is not None else "")
        raise ValueError(f"{name} must satisfy {bounds}; got {name}={tuple(value)!r}.")
    return int(lo), int(hi)
