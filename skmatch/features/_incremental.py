"""partial_fit's data side: a fitted spec grown by new ids, and the fitted histories
followed by new interactions."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from skmatch.exceptions import format_values
from skmatch.features._interactions import Interactions
from skmatch.features._vocab import Vocabulary
from skmatch.utils._checks import check_frame, check_no_missing


def extend_spec(spec, X: pd.DataFrame):
    """A copy of the fitted ``spec`` whose vocabularies also hold X's new users and items.

    New ids get the next codes, so every code of the fitted model keeps its meaning. Side
    features of new users or items cannot be learned incrementally: with user (item)
    features in the spec, new users (items) are refused.
    """
    X = check_frame(X, required=[spec.user_col, spec.item_col])
    for col in (spec.user_col, spec.item_col):
        check_no_missing(X[col], col)
    spec = copy.deepcopy(spec)
    for side, col, feats in (("user", spec.user_col, spec.user_features),
                             ("item", spec.item_col, spec.item_features)):  # fmt: skip
        vocab = getattr(spec, f"{side}s_")
        ids = pd.Index(pd.unique(X[col].to_numpy()))
        new = ids[vocab.categories.get_indexer(ids) < 0]
        if new.size == 0:
            continue
        if feats:
            raise ValueError(
                f"partial_fit met {new.size} new {side}(s) in column {col!r} "
                f"({format_values(list(new[:5]))}), but the FeatureSpec has {side} features "
                f"{list(feats)} whose vocabularies and tables cannot grow incrementally. "
                "Refit with fit on all interactions."
            )
        setattr(spec, f"{side}s_", Vocabulary(vocab.categories.append(new)))
        setattr(spec, f"n_{side}s_", len(vocab.categories) + new.size)
    return spec


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
