"""Queries: the users to embed (known ids, or the histories of a frame), with their
histories and side features, for ``recommend`` and ``transform_users``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from skmatch.exceptions import DataError
from skmatch.features._history import UserHistory
from skmatch.features._interactions import Interactions, key_ids
from skmatch.features._vocab import OOV, PAD
from skmatch.utils._checks import as_float, check_frame, check_no_missing, check_times


@dataclass
class UserQuery:
    """The users to embed: one entry per output row.

    Attributes
    ----------
    ids : ndarray
        Raw user ids, one per row (for DataFrame input: in order of first appearance).
    codes : ndarray of shape (n,), int64
        User codes in the fitted vocabulary (1 = unknown user).
    history : UserHistory
        Each row's items in time order (row ``r`` is user ``r`` of the table).
    features : dict of str -> ndarray
        Encoded user-side features, one row per user.
    """

    ids: np.ndarray
    codes: np.ndarray
    history: UserHistory
    features: dict

    def __len__(self) -> int:
        return self.codes.size

    def last(self, max_len: int) -> np.ndarray:
        """``(n, max_len)`` most recent item codes, left-padded with 0."""
        return self.history.last(np.arange(len(self)), max_len)

    def seen(self):
        """``(n, n_item_codes)`` CSR of the items in each user's history."""
        return self.history.to_csr()

    def take(self, rows) -> UserQuery:
        """The query restricted to the given rows."""
        rows = np.asarray(rows, dtype=np.int64)
        return UserQuery(
            ids=self.ids[rows],
            codes=self.codes[rows],
            history=self.history.take(rows),
            features={k: v[rows] for k, v in self.features.items()},
        )


def query_from_codes(spec, history: UserHistory, codes: np.ndarray) -> UserQuery:
    """Known users, embedded from their fit-time history; unknown ones (code OOV) from an
    empty history (never from the fit-time rows that code 1 may hold: the users below
    ``min_count``, merged)."""
    codes = np.asarray(codes, dtype=np.int64)
    features = {f: table[codes] for f, table in spec.user_table_.items()}
    return UserQuery(
        ids=spec.inverse_transform_users(codes),
        codes=codes,
        history=history.take(np.where(codes == OOV, PAD, codes)),  # PAD's history is empty
        features=features,
    )


def query_from_keys(spec, history: UserHistory, keys: np.ndarray, new_users) -> UserQuery:
    """Users given by keys (see :meth:`Interactions.user_keys`): a known user's code,
    embedded from the fit-time history, or ``-1 - k`` for the ``k``-th of ``new_users``
    (raw ids), each embedded as a new user (empty history, unknown features)."""
    keys = np.asarray(keys, dtype=np.int64)
    query = query_from_codes(spec, history, np.where(keys >= 0, keys, OOV))
    if (keys < 0).any():
        query.ids = key_ids(spec, keys, new_users)
    return query


def _grouped_histories(local, n_users: int, times, items, n_item_codes: int, keep=None):
    """Each group's items in time order (ties: row order), as a :class:`UserHistory`
    indexed by group, and each group's latest row. ``local`` gives every row's group
    (0..n_users-1, each present); ``keep`` masks the rows that enter the histories."""
    by_time = np.lexsort((np.arange(local.size), times, local))  # by group, time, row
    last_rows = by_time[np.concatenate([np.diff(local[by_time]) != 0, [True]])]
    order = by_time if keep is None else by_time[keep[by_time]]
    counts = np.bincount(local[order], minlength=n_users)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return UserHistory(indptr, items[order], n_item_codes), last_rows


def frame_labels(spec, X) -> np.ndarray | None:
    """The labels of interactions ``X`` (a DataFrame or ``Interactions``), or None."""
    if isinstance(X, Interactions):
        return X.labels
    if spec.label_col in X.columns:
        return as_float(X[spec.label_col], spec.label_col, allow_nan=False)
    return None


def query_from_frame(spec, X: pd.DataFrame, fitted: UserHistory | None = None) -> UserQuery:
    """Users of a DataFrame of interactions, embedded from the history it gives.

    Users absent from the fitted vocabulary are kept apart (grouped by raw id), items
    unseen in fit become out-of-vocabulary, and rows whose label column is <= 0 are left
    out of the histories, as in training. Every user feature of the spec must be a
    column (each user's latest row gives its values). A frame without the item column
    gives users and their features only: known users keep their ``fitted`` history,
    new ones have none and are embedded from their features alone (cold start).
    """
    X = check_frame(X, required=[spec.user_col, *spec.user_features])
    has_items = spec.item_col in X.columns
    if not has_items and not spec.user_features:
        raise DataError(
            f"X has no {spec.item_col!r} column and the FeatureSpec no user features: "
            "there is nothing to embed its users from. Pass user ids, or their "
            "interactions."
        )
    for col in (spec.user_col, spec.item_col) if has_items else (spec.user_col,):
        check_no_missing(X[col], col)
    local, uniques = pd.factorize(X[spec.user_col], sort=False)
    if spec.time_col_ is not None and spec.time_col_ in X.columns:
        times = check_times(X[spec.time_col_], spec.time_col_)
    else:
        times = np.arange(len(X))
    if has_items:
        items = spec.encode_items(X[spec.item_col], handle_unknown="oov")
        labels = frame_labels(spec, X)  # as in training: rows labelled <= 0 enter no history
        keep = None if labels is None else labels > 0
    else:  # features only: no row enters a history
        items, keep = np.zeros(len(X), dtype=np.int64), np.zeros(len(X), dtype=bool)
    history, last_rows = _grouped_histories(
        local, len(uniques), times, items, len(spec.items_), keep=keep
    )
    ids = np.asarray(uniques, dtype=object)
    codes = spec.users_.encode(pd.Series(ids), column=spec.user_col, handle_unknown="oov")
    if not has_items and fitted is not None:  # known users: their fitted history
        history = fitted.take(np.where(codes == OOV, PAD, codes))
    features = {
        f: spec._encode_feature(f, X[f].iloc[last_rows].reset_index(drop=True))
        for f in spec.user_table_
    }
    return UserQuery(ids=ids, codes=codes, history=history, features=features)


def query_from_interactions(inter: Interactions) -> UserQuery:
    """Users of an :class:`Interactions` object, embedded from its own history.

    Users outside the vocabulary (code 1) are told apart by their raw ids
    (``inter.new_users``): one row each, from their own rows and side features.
    """
    spec = inter.spec
    if inter.new_user_index is None:  # every user known: one row per code
        codes = inter.unique_users()
        return UserQuery(
            ids=spec.inverse_transform_users(codes),
            codes=codes,
            history=inter.history.take(codes),
            features={f: table[codes] for f, table in spec.user_table_.items()},
        )
    local, uniques = pd.factorize(inter.user_keys(), sort=False)
    keys = np.asarray(uniques, dtype=np.int64)
    positive = None if inter.labels is None else inter.labels > 0  # as in training
    history, last = _grouped_histories(
        local, keys.size, inter.times, inter.item_codes, len(spec.items_), keep=positive
    )
    query = query_from_keys(spec, inter.history, keys, inter.new_users)
    query.history = history
    new = keys < 0
    if new.any() and inter.user_features:  # a new user's features: its latest row's
        for f, values in inter.user_features.items():
            query.features[f] = query.features[f].copy()
            query.features[f][new] = values[last[new]]
    return query
