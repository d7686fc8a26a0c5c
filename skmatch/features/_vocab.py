"""Vocabulary: raw values <-> integer codes (0 = padding, 1 = out-of-vocabulary)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmatch.exceptions import UnknownIdError, format_values

PAD = 0
OOV = 1
N_RESERVED = 2  # codes before the first known value


def code_to_position(codes):
    """Index position of known item codes: code ``c`` is row ``c - N_RESERVED`` of the
    item vectors (and of the retrieval index). Works on numpy arrays and torch tensors;
    reserved codes give negative positions."""
    return codes - N_RESERVED


def position_to_code(positions):
    """Inverse of :func:`code_to_position` for numpy arrays: padded positions (``-1``,
    or any negative) become :data:`PAD`."""
    positions = np.asarray(positions)
    return np.where(positions >= 0, positions + N_RESERVED, PAD)


class Vocabulary:
    """An ordered set of known values; value ``categories[j]`` has code ``j + 2``.

    Parameters
    ----------
    categories : array-like
        The known values, unique, in code order.
    """

    def __init__(self, categories) -> None:
        self.categories = pd.Index(categories)
        if not self.categories.is_unique:
            raise ValueError("Vocabulary categories must be unique.")

    @classmethod
    def learn(cls, values, min_count: int = 1) -> Vocabulary:
        """Learn the values seen at least ``min_count`` times, sorted when sortable."""
        counts = pd.Series(values).value_counts(sort=False, dropna=True)
        kept = counts.index[counts.to_numpy() >= min_count]
        try:
            kept = kept.sort_values()
        except TypeError:  # mixed, unorderable types: keep first-seen order
            pass
        return cls(kept)

    def __len__(self) -> int:
        """Number of codes, the two reserved ones included."""
        return len(self.categories) + N_RESERVED

    def encode(self, values, *, column: str, handle_unknown: str = "oov") -> np.ndarray:
        """Codes of ``values``; unknown values become :data:`OOV` or raise."""
        pos = self.categories.get_indexer(pd.Index(values))
        codes = pos.astype(np.int64) + N_RESERVED
        unknown = pos < 0
        if unknown.any():
            if handle_unknown == "error":
                bad = pd.unique(np.asarray(values, dtype=object)[unknown])
                raise UnknownIdError(
                    f"Column {column!r} has {unknown.sum()} value(s) unseen during fit "
                    f"({bad.size} distinct), first {format_values(bad.tolist())}. Refit on "
                    "data that includes them, or use handle_unknown='oov'."
                )
            codes[unknown] = OOV
        return codes

    def decode(self, codes, pad_value=None) -> np.ndarray:
        """Raw values of ``codes``; reserved codes become ``pad_value``."""
        codes = np.asarray(codes, dtype=np.int64)
        cats = self.categories.to_numpy()
        reserved = codes < N_RESERVED
        idx = np.where(reserved, 0, codes - N_RESERVED)
        if len(cats) == 0:
            return np.full(codes.shape, pad_value, dtype=object)
        out = cats[idx]
        if reserved.any():
            if out.dtype.kind in "iuf" and pad_value is not None:
                out = out.astype(np.result_type(out.dtype, np.asarray(pad_value).dtype))
            else:
                out = out.astype(object)
            out[reserved] = pad_value
        return out

    def pad_value(self):
        """The sentinel used for padded slots: -1 for integer ids (when unused), else None."""
        if self.categories.dtype.kind in "iu" and not (self.categories == -1).any():
            return -1
        return None
