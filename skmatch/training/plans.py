"""Batch plans: the units a fit shuffles (rows or history windows) and their batches.

A plan has ``units`` (an int64 array the loop permutes every epoch),
``batches(order, batch_size, rng)`` that cuts an epoch's order into batches, and
``batch(units, device) -> Batch``, gathered by index from the ``Interactions`` arrays
(no per-sample collation). :class:`RowPlan` trains one example per interaction (its
user's earlier items as the history); :class:`WindowPlan` cuts every user's sequence
into windows in which every position predicts its next item (causal sequence models).

With ``bucket=True`` the batches hold units of similar lengths (:func:`bucketed`): a
batch is only as wide as its longest history, so on sparse data (most histories short,
a few long) far less of the sequence encoder's work is padding.
"""

from __future__ import annotations

import numpy as np
import torch

from skmatch.features import OOV, Interactions, UserHistory, code_to_position, gather_windows
from skmatch.nn.protocol import Batch
from skmatch.utils._ordering import last_n_mask


def training_rows(inter: Interactions, rows=None, *, pointwise: bool = False) -> np.ndarray:
    """The rows to train on (of ``rows``; all when None): the positives, unless the
    loss is pointwise and learns from labelled negatives too."""
    rows = np.arange(len(inter)) if rows is None else rows
    if inter.labels is None or pointwise:
        return rows
    return rows[inter.labels[rows] > 0]


BUCKET_BATCHES = 50  # batches per chunk sorted by length (see bucketed)


def bucketed(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng) -> list:
    """Batches of units of similar lengths, in random order ("sortish" batching).

    The epoch's ``order`` is cut into chunks of ``BUCKET_BATCHES`` batches; each chunk
    is sorted by length (stable) and cut into batches; the batches are shuffled. Units
    stay in the chunk their shuffled position put them in, so batches still mix units
    from all over the data.
    """
    batches = []
    chunk = batch_size * BUCKET_BATCHES
    for start in range(0, order.size, chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, part.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class _Plan:
    units: np.ndarray
    lengths: np.ndarray  # per unit, for bucketing
    bucket: bool = False

    def batches(self, order: np.ndarray, batch_size: int, rng) -> list:
        """The epoch's batches: consecutive slices of ``order``, or length buckets."""
        if self.bucket:
            return bucketed(order, self.lengths, batch_size, rng)
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]


class RowPlan(_Plan):
    """One example per interaction: the row's positive and its user's earlier items.

    Parameters
    ----------
    inter : Interactions
    rows : ndarray of int
        The rows to train on.
    bucket : bool, default False
        Batches of rows with histories of similar lengths (see :func:`bucketed`).
    """

    def __init__(self, inter: Interactions, rows: np.ndarray, bucket: bool = False) -> None:
        self.inter = inter
        self.units = rows
        self.bucket = bucket
        if bucket:  # indexed by row: the history length each row's batch pads to
            self.lengths = np.minimum(inter.positions, inter.max_seq_len)

    def batch(self, rows: np.ndarray, device) -> Batch:
        inter = self.inter
        batch = Batch(
            hist=torch.from_numpy(inter.histories(rows)),
            user_features={k: torch.from_numpy(v[rows]) for k, v in inter.user_features.items()},
            pos=torch.from_numpy(inter.item_codes[rows]),
        )
        if inter.weights is not None:
            batch.weight = torch.from_numpy(inter.weights[rows].astype(np.float32))
        if inter.labels is not None:
            batch.label = torch.from_numpy(inter.labels[rows].astype(np.float32))
        return batch.to(device, non_blocking=True)


class WindowPlan(_Plan):
    """History windows: inputs ``[W, L]`` and next-item targets ``[W, L]``, left-padded.

    Every user's positive items are cut into windows of ``max_len`` items whose last
    ``stride`` positions are trained, so that the targets cover positions ``1 .. n - 1``
    once (see :func:`windows`); with ``stride < max_len`` consecutive windows overlap and
    the earlier items of a window are context only. Each target weighs as its row when
    the interactions are weighted.

    Parameters
    ----------
    inter : Interactions
    max_len : int
    user_table : dict of str -> ndarray
        Encoded user side features by user code (the FeatureSpec's ``user_table_``).
    bucket : bool, default True
        Batches of windows of similar widths (see :func:`bucketed`).
    stride : int, optional
        Targets per window (``max_len`` when None: disjoint windows).
    """

    def __init__(self, inter: Interactions, max_len: int, user_table: dict,
                 bucket: bool = True, stride: int | None = None) -> None:  # fmt: skip
        self.inter, self.max_len, self.user_table = inter, max_len, user_table
        self.stride = max_len if stride is None else min(int(stride), max_len)
        self.users, self.ends = windows(inter.history, self.stride)
        self.units = np.arange(self.users.size)
        self.bucket = bucket
        first = inter.history.indptr[self.users] + 1  # the user's first target
        self.lengths = np.minimum(self.ends - first, max_len)  # width of each window
        self.first_target = np.maximum(first, self.ends - self.stride)
        # the target weight of an average window: a batch's loss is its targets' sum over
        # batch_size times it (see batches), so a target weighs the same in every batch
        if inter.history_weights is None:
            total = float((self.ends - self.first_target).sum())
        else:
            total = float(inter.history_weights[_targets_mask(inter.history)].sum())
        self.per_window = total / max(self.units.size, 1)
        self.norm = None

    def batches(self, order: np.ndarray, batch_size: int, rng) -> list:
        """The epoch's batches (see :class:`_Plan`). Windows hold from 1 to ``stride``
        targets (length buckets group them by width), so a batch's loss is not its mean:
        it is the sum over its targets divided by ``batch_size`` times the average
        window's, the same divisor for every batch. With a mean, a target of a batch of
        short windows weighed up to ``max_len`` times one of long windows, which
        bucketing made systematic (Amazon Beauty, SASRec after 25 epochs: test NDCG@10
        .0487 with buckets against .0549 without; docs/benchmarks.md)."""
        self.norm = batch_size * self.per_window if self.per_window > 0 else None
        return super().batches(order, batch_size, rng)

    def batch(self, units: np.ndarray, device) -> Batch:
        hist, length = self.inter.history, self.max_len
        users, ends = self.users[units], self.ends[units]
        start = hist.indptr[users]
        first = self.first_target[units]  # earlier positions are context only
        batch = Batch(
            hist=torch.from_numpy(gather_windows(hist.items, start, ends - 1, length)),
            user_features={k: torch.from_numpy(t[users]) for k, t in self.user_table.items()},
            targets=torch.from_numpy(gather_windows(hist.items, first, ends, length)),
            norm=self.norm,
        )
        if self.inter.history_weights is not None:
            weights = self.inter.history_weights
            batch.weight = torch.from_numpy(
                gather_windows(weights, first, ends, length, np.float32)
            )
        return batch.to(device, non_blocking=True)


def _targets_mask(history: UserHistory) -> np.ndarray:
    """Which entries of ``history.items`` are some window's target (all but each
    user's first item)."""
    mask = np.ones(history.items.size, dtype=bool)
    starts = history.indptr[:-1][np.diff(history.indptr) > 0]
    mask[starts] = False
    return mask


def windows(history: UserHistory, length: int):
    """Cut every user's sequence into windows whose targets cover positions 1..n-1 once.

    Returns the user of each window and the (exclusive) end of its targets in
    ``history.items``: window ``w`` predicts ``items[end - length : end]`` (``length``
    targets, the plan's stride) from the item before each, so consecutive windows of a
    user never share a target.
    """
    n = np.diff(history.indptr)
    per_user = np.where(n >= 2, -(-(n - 1) // length), 0)  # ceil((n - 1) / length)
    user = np.repeat(np.arange(n.size), per_user)
    first = np.cumsum(per_user) - per_user
    k = np.arange(user.size) - np.repeat(first, per_user)  # 0 = most recent window
    end = history.indptr[user + 1] - k * length
    return user, end


def holdout_last(inter: Interactions, max_users: int | None = None):
    """Hold out users' last positive event, for validation during a fit.

    Users need at least 2 positive events; users outside the vocabulary (below
    ``min_count``) share one code and have no history, so their rows all stay in
    training. With ``max_users``, only that many users (evenly spaced by user code, no
    random draw) are held out: validation ranks no more than that, and every other user
    keeps all of its events for training (on sparse data a user's last event is a large
    share of its history: 1 in 7 on Amazon Beauty).

    Returns
    -------
    (train, users, targets) or None
        The other rows (``Interactions``), the user code of each held-out event and the
        index position of each held-out item (a 1-D array: one target per user); None
        when no user has 2 positive events.
    """
    positive = np.ones(len(inter), bool) if inter.labels is None else inter.labels > 0
    rows = np.flatnonzero(positive & (inter.user_codes != OOV))
    last = last_n_mask(inter.user_codes[rows], inter.times[rows], 1)
    n_pos = np.bincount(inter.user_codes[rows], minlength=inter.history.n_users)
    held = rows[last & (n_pos[inter.user_codes[rows]] >= 2)]
    if held.size == 0:
        return None
    if max_users is not None and held.size > max_users:
        by_user = held[np.argsort(inter.user_codes[held], kind="stable")]
        pick = np.unique(np.linspace(0, by_user.size - 1, max_users).astype(np.int64))
        held = np.sort(by_user[pick])
    keep = np.ones(len(inter), dtype=bool)
    keep[held] = False
    targets = np.asarray(code_to_position(inter.item_codes[held]))
    return inter.subset(np.flatnonzero(keep)), inter.user_codes[held], targets
