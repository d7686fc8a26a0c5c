"""Resolve the ``users`` argument of recommend/transform_users into histories and features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from skmatch.features import Interactions, UserHistory
from skmatch.utils._checks import check_frame, check_no_missing, check_times


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
    """Known (or OOV) users, embedded from their fit-time history."""
    codes = np.asarray(codes, dtype=np.int64)
    features = {f: table[codes] for f, table in spec.user_table_.items()}
    return UserQuery(
        ids=spec.inverse_transform_users(codes),
        codes=codes,
        history=history.take(codes),
        features=features,
    )


def query_from_frame(spec, X: pd.DataFrame) -> UserQuery:
    """Users of a DataFrame of interactions, embedded from the history it gives.

    Users absent from the fitted vocabulary are kept apart (grouped by raw id), and
    items unseen in fit become out-of-vocabulary.
    """
    X = check_frame(X, required=[spec.user_col, spec.item_col])
    for col in (spec.user_col, spec.item_col):
        check_no_missing(X[col], col)
    local, uniques = pd.factorize(X[spec.user_col], sort=False)
    if spec.time_col_ is not None and spec.time_col_ in X.columns:
        times = check_times(X[spec.time_col_], spec.time_col_)
    else:
        times = np.arange(len(X))
    items = spec.encode_items(X[spec.item_col], handle_unknown="oov")
    order = np.lexsort((np.arange(len(X)), times, local))
    counts = np.bincount(local, minlength=len(uniques))
    history = UserHistory(np.concatenate([[0], np.cumsum(counts)]), items[order], len(spec.items_))
    ids = np.asarray(uniques, dtype=object)
    codes = spec.users_.encode(pd.Series(ids), column=spec.user_col, handle_unknown="oov")
    last_rows = order[np.concatenate([np.diff(local[order]) != 0, [True]])]  # per user
    features = {}
    for f, table in spec.user_table_.items():
        if f in X.columns:
            features[f] = spec._encode_feature(f, X[f].iloc[last_rows].reset_index(drop=True))
        else:
            features[f] = table[codes]
    return UserQuery(ids=ids, codes=codes, history=history, features=features)


def query_from_interactions(inter: Interactions) -> UserQuery:
    """Users of an :class:`Interactions` object, embedded from its own history."""
    codes = inter.unique_users()
    spec = inter.spec
    return UserQuery(
        ids=spec.inverse_transform_users(codes),
        codes=codes,
        history=inter.history.take(codes),
        features={f: table[codes] for f, table in spec.user_table_.items()},
    )
