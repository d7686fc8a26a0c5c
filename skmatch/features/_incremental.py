"""partial_fit's data side: a fitted spec grown by new ids, and the fitted histories
followed by new interactions."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from skmatch.features._interactions import Interactions
from skmatch.features._spec import split_tokens
from skmatch.features._vocab import Vocabulary
from skmatch.utils._checks import check_frame, check_no_missing, check_times


def extend_spec(spec, X: pd.DataFrame, sides=("user", "item")):
    """A copy of the fitted ``spec`` that also knows X's new users and items.

    New ids get the next codes, so every code of the fitted model keeps its meaning. With
    side features, each new id's feature values come from its latest row of ``X``
    (the columns must be there); feature values never seen before join their
    feature's vocabulary (new codes after the known ones). ``sides`` limits the growth
    to users or items (``add_items`` passes ``("item",)``: no user column needed).
    """
    cols = {
        "user": (spec.user_col, spec.user_features),
        "item": (spec.item_col, spec.item_features),
    }
    required = [c for side in sides for c in (cols[side][0], *cols[side][1])]
    X = check_frame(X, required=required)
    for side in sides:
        check_no_missing(X[cols[side][0]], cols[side][0])
    spec = copy.deepcopy(spec)
    for side in sides:
        col, feats = cols[side]
        vocab = getattr(spec, f"{side}s_")
        for f in feats:  # values never seen before join the feature's vocabulary, in any
            _grow_vocabulary(spec, f, X[f])  # row: a known user's new age too
        ids = pd.Index(pd.unique(X[col].to_numpy()))
        new = ids[vocab.categories.get_indexer(ids) < 0]
        if new.size == 0:
            continue
        grown = Vocabulary(vocab.categories.append(new))
        setattr(spec, f"{side}s_", grown)
        setattr(spec, f"n_{side}s_", len(grown.categories))
        if feats:
            _append_rows(spec, side, X, col, new, grown)
    return spec


def _grow_vocabulary(spec, name: str, values: pd.Series) -> None:
    kind = spec.feature_kinds_[name]
    if kind == "dense":
        return
    seen = split_tokens(values, spec.sep) if kind == "multi" else values.dropna()
    vocab = spec.vocabularies_[name]
    fresh = pd.Index(pd.unique(seen.to_numpy()))
    fresh = fresh[vocab.categories.get_indexer(fresh) < 0]
    if fresh.size:
        spec.vocabularies_[name] = Vocabulary(vocab.categories.append(fresh))


def _append_rows(spec, side: str, X, col: str, new, vocab) -> None:
    """Rows of the side table for the ``new`` ids: each one's latest row of ``X``."""
    rows = X[X[col].isin(new)]
    if spec.time_col_ is not None and spec.time_col_ in rows.columns:
        rows = rows.iloc[np.argsort(check_times(rows[spec.time_col_], spec.time_col_),
                                    kind="stable")]  # fmt: skip
    latest = rows.drop_duplicates(col, keep="last")
    codes = vocab.encode(latest[col], column=col)
    table = getattr(spec, f"{side}_table_")
    n_codes = len(vocab)
    for f in list(table):
        enc = spec._encode_feature(f, latest[f].reset_index(drop=True))
        full = np.zeros((n_codes, *table[f].shape[1:]), dtype=table[f].dtype)
        full[: table[f].shape[0]] = table[f]
        full[codes] = enc
        table[f] = full


def combined_interactions(spec, history, X: pd.DataFrame) -> tuple[Interactions, np.ndarray]:
    """The fitted histories followed by X's interactions; and the rows that are X's.

    The fitted history of each user becomes rows dated before X's earliest event (in
    their order), so each new interaction is predicted from everything its user did.
    """
    new = spec.transform(X)
    lengths = np.diff(history.indptr)
    users = np.repeat(np.arange(lengths.size), lengths)
    rank_from_end = np.repeat(history.indptr[1:], lengths) - np.arange(history.items.size)
    if new.times.dtype.kind in "iu":
        start = int(new.times.min()) if new.times.size else 0
        times = start - rank_from_end.astype(np.int64)
    else:
        times = float(new.times.min()) - rank_from_end.astype(np.float64)
    n_old = users.size

    def both(old, fresh):
        return np.concatenate([old.astype(fresh.dtype), fresh])

    inter = Interactions(
        spec=spec,
        user_codes=both(users, new.user_codes),
        item_codes=both(history.items, new.item_codes),
        times=both(times, new.times),
        labels=None if new.labels is None else both(np.ones(n_old), new.labels),
        weights=None if new.weights is None else both(np.ones(n_old), new.weights),
        user_features={
            f: np.concatenate([spec.user_table_[f][users], v])
            for f, v in new.user_features.items()
        },
    )
    return inter, n_old + np.arange(len(new))
