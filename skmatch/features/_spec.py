"""FeatureSpec: learns vocabularies and side tables from a raw DataFrame of interactions."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from skmatch.exceptions import DataError, NotFittedError, format_values
from skmatch.features._interactions import Interactions
from skmatch.features._vocab import OOV, Vocabulary
from skmatch.utils._checks import (
    DEFAULT_TIME_COL,
    as_float,
    check_frame,
    check_no_missing,
    check_times,
)

_KINDS = ("sparse", "dense", "multi")


class FeatureSpec(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Learn id vocabularies and side features, and encode interactions.

    ``fit`` learns one :class:`Vocabulary` per id column and categorical feature
    (code 0 is padding, 1 is out-of-vocabulary), the kind of every side feature and the
    item and user side tables. ``transform`` turns a DataFrame into an
    :class:`Interactions` object that models train on.

    Parameters
    ----------
    user_col, item_col : str, default "user_id", "item_id"
        Id columns; ids may be ints or strings.
    time_col : str or None, default "timestamp"
        Event time (numeric or datetime). When the default column is absent, or
        ``time_col=None``, row order is the time; a non-default name that is absent
        is an error.
    user_features, item_features : sequence of str, default ()
        Side-feature columns. An item feature is gathered for every history item too.
    max_seq_len : int, default 50
        History window: the most recent ``max_seq_len`` items, left-padded.
    min_count : int, default 1
        Ids and categories seen fewer times are out-of-vocabulary.
    handle_unknown : {"oov", "error"}, default "oov"
        What ``transform`` does with ids unseen in ``fit``.
    sep : str, default "|"
        Separator of multi-valued string features (``"Action|Comedy"``).
    label_col, weight_col : str, default "label", "weight"
        Optional explicit 0/1 label and sample-weight columns, used when present.
    feature_types : dict of str -> {"sparse", "dense", "multi"}, optional
        Overrides the inferred kind (floats are dense, strings holding ``sep`` are
        multi-valued, everything else is sparse).

    Attributes
    ----------
    users_, items_ : Vocabulary
        Id vocabularies.
    n_users_, n_items_ : int
        Number of known users and items (reserved codes excluded).
    vocabularies_ : dict of str -> Vocabulary
        Vocabularies of sparse and multi-valued features (tokens for multi-valued).
    feature_kinds_ : dict of str -> str
        Kind of every side feature.
    feature_dtypes_ : dict of str -> str or None
        What each feature column held in fit ("numeric", "text", ...): a column that
        holds another kind of value later (ages as strings, say) is refused.
    item_table_, user_table_ : dict of str -> ndarray
        One row per item (user) code: encoded feature values; rows 0 and 1 hold padding.
    dense_stats_ : dict of str -> (float, float)
        Mean and standard deviation used to standardise dense features.
    time_col_ : str or None
        The time column used (None: row order).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmatch import FeatureSpec
    >>> df = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": [10, 11, 10],
    ...                    "timestamp": [1, 2, 3]})
    >>> inter = FeatureSpec(max_seq_len=3).fit_transform(df)
    >>> inter.histories()
    array([[0, 0, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """

    def __init__(
        self,
        user_col: str = "user_id",
        item_col: str = "item_id",
        time_col: str | None = "timestamp",
        user_features=(),
        item_features=(),
        max_seq_len: int = 50,
        min_count: int = 1,
        handle_unknown: str = "oov",
        sep: str = "|",
        label_col: str = "label",
        weight_col: str = "weight",
        feature_types: dict | None = None,
    ) -> None:
        self.user_col = user_col
        self.item_col = item_col
        self.time_col = time_col
        self.user_features = user_features
        self.item_features = item_features
        self.max_seq_len = max_seq_len
        self.min_count = min_count
        self.handle_unknown = handle_unknown
        self.sep = sep
        self.label_col = label_col
        self.weight_col = weight_col
        self.feature_types = feature_types

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        for name in ("max_seq_len", "min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.handle_unknown not in ("oov", "error"):
            raise ValueError(
                f"handle_unknown must be 'oov' or 'error', got {self.handle_unknown!r}."
            )
        if not isinstance(self.sep, str) or not self.sep:
            raise ValueError(f"sep must be a non-empty string, got {self.sep!r}.")
        for name in ("user_features", "item_features"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise TypeError(
                    f"{name} must be a list or tuple of column names, got {value!r}."
                )
        overlap = set(self.user_features) & set(self.item_features)
        if overlap:
            raise ValueError(
                f"{len(overlap)} column(s) are both user and item features: "
                f"{format_values(sorted(overlap))}."
            )
        types = self.feature_types
        if types is not None and not isinstance(types, Mapping):
            raise TypeError(
                f"feature_types must be a dict of column -> kind, got {type(types).__name__}."
            )
        for name, kind in (types or {}).items():
            if kind not in _KINDS:
                raise ValueError(f"feature_types[{name!r}] must be one of {_KINDS}, got {kind!r}.")
        stray = sorted(set(types or {}) - {*self.user_features, *self.item_features}, key=str)
        if stray:
            raise ValueError(
                f"feature_types names {len(stray)} column(s) that are no user or item "
                f"feature: {format_values(stray)}. Add them to user_features or "
                "item_features, or check the spelling."
            )

    def _resolve_time_col(self, X: pd.DataFrame) -> str | None:
        if self.time_col is None:
            return None
        if self.time_col in X.columns:
            return self.time_col
        if self.time_col == DEFAULT_TIME_COL:
            return None
        raise DataError(
            f"time_col={self.time_col!r} is not a column of X (columns: "
            f"{format_values(list(X.columns), 10)}). Pass time_col=None to use row order."
        )

    def _infer_kind(self, name: str, values: pd.Series) -> str:
        if self.feature_types and name in self.feature_types:
            return self.feature_types[name]
        if pd.api.types.is_float_dtype(values):
            return "dense"
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            if values.dropna().astype(str).str.contains(self.sep, regex=False).any():
                return "multi"
        return "sparse"

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y=None) -> FeatureSpec:
        """Learn vocabularies, feature kinds and side tables from interactions ``X``.

        Parameters
        ----------
        X : DataFrame
            One row per interaction.
        y : None
            Ignored.

        Returns
        -------
        self : FeatureSpec
        """
        self._validate_params()
        features = [*self.user_features, *self.item_features]
        X = check_frame(X, required=[self.user_col, self.item_col, *features])
        time_col = self._resolve_time_col(X)
        for col in (self.user_col, self.item_col):
            check_no_missing(X[col], col)
        times = check_times(X[time_col], time_col) if time_col else np.arange(len(X))

        self.time_col_ = time_col
        self.users_ = Vocabulary.learn(X[self.user_col], self.min_count)
        self.items_ = Vocabulary.learn(X[self.item_col], self.min_count)
        if len(self.users_.categories) == 0 or len(self.items_.categories) == 0:
            users, items = X[self.user_col].value_counts(), X[self.item_col].value_counts()
            vocabs = (("user", self.users_), ("item", self.items_))
            none = [side for side, v in vocabs if len(v.categories) == 0]
            raise DataError(
                f"min_count={self.min_count} leaves no {' and no '.join(none)} to learn: "
                f"{len(self.users_.categories)} of {len(users)} users in {self.user_col!r} "
                f"and {len(self.items_.categories)} of {len(items)} items in "
                f"{self.item_col!r} are seen that often (at most {int(users.max())} times "
                f"for a user, {int(items.max())} for an item). Lower min_count."
            )
        self.n_users_ = len(self.users_.categories)
        self.n_items_ = len(self.items_.categories)
        self.feature_kinds_ = {f: self._infer_kind(f, X[f]) for f in features}
        self.feature_dtypes_ = {f: value_family(X[f]) for f in features}
        self.vocabularies_ = {}
        self.dense_stats_ = {}
        self.max_tokens_ = {}
        for f in features:
            self._learn_feature(f, X[f])
        user_codes = self.users_.encode(X[self.user_col], column=self.user_col)
        item_codes = self.items_.encode(X[self.item_col], column=self.item_col)
        self.item_table_ = self._side_table(X, self.item_features, item_codes, times, self.items_)
        self.user_table_ = self._side_table(X, self.user_features, user_codes, times, self.users_)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def _learn_feature(self, name: str, values: pd.Series) -> None:
        kind = self.feature_kinds_[name]
        _check_no_lists(values, name, self.sep)
        if kind == "dense":
            arr = as_float(values, name)
            finite = arr[np.isfinite(arr)]
            mean = float(finite.mean()) if finite.size else 0.0
            std = float(finite.std()) if finite.size else 1.0
            self.dense_stats_[name] = (mean, std if std > 0 else 1.0)
        elif kind == "multi":
            tokens = split_tokens(values, self.sep)
            self.vocabularies_[name] = Vocabulary.learn(tokens.to_numpy(), self.min_count)
            per_row = tokens.groupby(level=0).size()
            self.max_tokens_[name] = int(per_row.max()) if len(per_row) else 1
        else:
            self.vocabularies_[name] = Vocabulary.learn(values, self.min_count)

    def _encode_feature(self, name: str, values: pd.Series) -> np.ndarray:
        kind = self.feature_kinds_[name]
        fitted, given = getattr(self, "feature_dtypes_", {}).get(name), value_family(values)
        if fitted and given and fitted != given:  # e.g. ages as strings: every value OOV
            raise DataError(
                f"Column {name!r} held {fitted} values in fit but holds {given} values now "
                f"(dtype {values.dtype}, first values {format_values(values.head().tolist())})"
                f". Convert it back (e.g. astype) before calling this method."
            )
        if kind == "dense":
            mean, std = self.dense_stats_[name]
            arr = (as_float(values, name) - mean) / std
            return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        _check_no_lists(values, name, self.sep)
        vocab = self.vocabularies_[name]
        if kind == "sparse":
            codes = vocab.encode(values, column=name)
            codes[values.isna().to_numpy()] = 0
            return codes
        tokens = split_tokens(values, self.sep)
        width = self.max_tokens_[name]
        out = np.zeros((len(values), width), dtype=np.int64)
        if len(tokens):
            rows = tokens.index.to_numpy()
            slot = tokens.groupby(level=0).cumcount().to_numpy()
            keep = slot < width
            if not keep.all():
                n_rows = np.unique(rows[~keep]).size
                warnings.warn(
                    f"Column {name!r}: {n_rows} row(s) hold more than the {width} values "
                    f"of the widest row seen in fit; {int((~keep).sum())} value(s) after "
                    f"the first {width} of a row are dropped. Refit to widen the feature.",
                    UserWarning,
                    stacklevel=4,
                )
            codes = vocab.encode(tokens.to_numpy(), column=name)
            out[rows[keep], slot[keep]] = codes[keep]
        return out

    def _side_table(self, X, features, codes, times, vocab) -> dict[str, np.ndarray]:
        """Feature values of each code, taken from its latest row."""
        n_codes = len(vocab)
        order = np.lexsort((np.arange(codes.size), times, codes))
        last = np.ones(order.size, dtype=bool)
        last[:-1] = codes[order][1:] != codes[order][:-1]
        rows = order[last]
        table = {}
        for f in features:
            enc = self._encode_feature(f, X[f].iloc[rows].reset_index(drop=True))
            full = np.zeros((n_codes, *enc.shape[1:]), dtype=enc.dtype)
            full[codes[rows]] = enc
            full[:2] = 0
            table[f] = full
        return table

    # ------------------------------------------------------------------ transform
    def transform(self, X: pd.DataFrame) -> Interactions:
        """Encode interactions ``X`` into an :class:`Interactions` object.

        Parameters
        ----------
        X : DataFrame
            One row per interaction, with the columns seen in ``fit``.

        Returns
        -------
        Interactions
        """
        self._check_fitted()
        X = check_frame(X, required=[self.user_col, self.item_col, *self.user_features])
        for col in (self.user_col, self.item_col):
            check_no_missing(X[col], col)
        if self.time_col_ is not None:
            X = check_frame(X, required=[self.time_col_])
            times = check_times(X[self.time_col_], self.time_col_)
        else:
            times = np.arange(len(X))
        labels = weights = None
        if self.label_col in X.columns:
            labels = as_float(X[self.label_col], self.label_col, allow_nan=False)
        if self.weight_col in X.columns:
            weights = as_float(X[self.weight_col], self.weight_col, allow_nan=False)
            if (weights < 0).any():  # a weighted mean needs non-negative weights
                rows = np.flatnonzero(weights < 0)
                raise DataError(
                    f"Column {self.weight_col!r} has {rows.size} negative value(s) at row "
                    f"position(s) {format_values(rows.tolist())}; weights must be >= 0."
                )
        user_codes = self.encode_users(X[self.user_col])
        new_index, new_users = new_user_index(X[self.user_col], user_codes)
        return Interactions(
            spec=self,
            user_codes=user_codes,
            item_codes=self.encode_items(X[self.item_col]),
            times=times,
            labels=labels,
            weights=weights,
            user_features={f: self._encode_feature(f, X[f]) for f in self.user_features},
            new_user_index=new_index,
            new_users=new_users,
        )

    def encode_users(self, ids, handle_unknown: str | None = None) -> np.ndarray:
        """Codes of raw user ids (``handle_unknown`` defaults to the spec's)."""
        self._check_fitted()
        return self.users_.encode(
            _as_ids(ids, self.user_col),
            column=self.user_col,
            handle_unknown=handle_unknown or self.handle_unknown,
        )

    def encode_items(self, ids, handle_unknown: str | None = None) -> np.ndarray:
        """Codes of raw item ids (``handle_unknown`` defaults to the spec's)."""
        self._check_fitted()
        return self.items_.encode(
            _as_ids(ids, self.item_col),
            column=self.item_col,
            handle_unknown=handle_unknown or self.handle_unknown,
        )

    def inverse_transform_items(self, codes) -> np.ndarray:
        """Raw item ids of codes; padding and OOV codes give the padding sentinel."""
        self._check_fitted()
        codes = _check_codes(codes, len(self.items_), "item")
        return self.items_.decode(codes, self.items_.pad_value())

    def inverse_transform_users(self, codes) -> np.ndarray:
        """Raw user ids of codes; padding and OOV codes give the padding sentinel."""
        self._check_fitted()
        codes = _check_codes(codes, len(self.users_), "user")
        return self.users_.decode(codes, self.users_.pad_value())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the per-row arrays of :meth:`transform`'s ``Interactions``.

        In order: the user and item codes (``user_codes``, ``item_codes``), the times
        (``times``, when a time column was fitted), each user feature
        (``user_features[name]``) and the history window (``histories()``). Item
        features are per item, not per row (``item_table_``); labels and weights are
        carried when the transformed frame has those columns.

        Returns
        -------
        ndarray of str
        """
        self._check_fitted()
        names = [self.user_col, self.item_col]
        if self.time_col_ is not None:
            names.append(self.time_col_)
        names += [*self.user_features, f"history_{self.item_col}"]
        return np.asarray(names, dtype=object)

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError(
                "This FeatureSpec is not fitted yet; call fit(X) with a DataFrame first."
            )


def _check_codes(codes, n_codes: int, side: str) -> np.ndarray:
    """Integer codes in ``[0, n_codes)``, else a clear error naming the first bad ones."""
    arr = np.asarray(codes)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{side} codes must be integers, got dtype {arr.dtype} (first values "
            f"{format_values(arr.ravel()[:5].tolist())}). Codes come from encode_{side}s."
        )
    bad = (arr < 0) | (arr >= n_codes)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} {side} code(s) are outside 0..{n_codes - 1} (first: "
            f"{format_values(arr[bad].tolist())}). Codes come from encode_{side}s."
        )
    return arr.astype(np.int64, copy=False)


def _check_no_lists(values: pd.Series, name: str, sep: str) -> None:
    """Refuse list-like cells (unhashable: they would fail deep inside pandas)."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) != "mixed":
        return  # strings, numbers: no per-value check needed
    listy = values.map(lambda v: isinstance(v, list | tuple | set | np.ndarray))
    if listy.any():
        raise DataError(
            f"Column {name!r} holds {int(listy.sum())} list-like value(s) (first: "
            f"{format_values(values[listy].head(3).tolist())}). Give a multi-valued feature "
            f"as strings joined by sep={sep!r}, e.g. df[{name!r}].str.join({sep!r})."
        )


def _as_ids(ids, column: str) -> pd.Series:
    series = ids if isinstance(ids, pd.Series) else pd.Series(np.asarray(ids, dtype=object))
    if series.ndim != 1:
        raise ValueError(f"{column} ids must be one-dimensional.")
    check_no_missing(series, column)
    return series


def split_tokens(values: pd.Series, sep: str) -> pd.Series:
    """One token per entry, indexed by row position (missing values give no token)."""
    s = pd.Series(values.to_numpy(dtype=object), index=np.arange(len(values)))
    s = s.dropna().astype(str).str.split(sep, regex=False).explode()
    s = s[s.notna() & (s != "")]
    return s.astype(object)


_FAMILIES = {
    "integer": "numeric", "floating": "numeric", "mixed-integer-float": "numeric",
    "decimal": "numeric", "integer-na": "numeric", "boolean": "boolean",
    "string": "text", "bytes": "text", "datetime": "datetime", "datetime64": "datetime",
    "date": "datetime", "timedelta": "timedelta", "timedelta64": "timedelta",
}  # fmt: skip


def value_family(values: pd.Series) -> str | None:
    """What a column holds: "numeric", "text", "boolean", "datetime", "timedelta", or
    None (empty, mixed or other) for which no check is made."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(values.cat.categories)
    return _FAMILIES.get(pd.api.types.infer_dtype(values, skipna=True))


def new_user_index(raw: pd.Series, codes: np.ndarray):
    """Per-row index of users outside the vocabulary (code OOV) among their raw ids, -1
    for known users, and those raw ids; ``(None, None)`` when every user is known."""
    unknown = codes == OOV
    if not unknown.any():
        return None, None
    index = np.full(codes.size, -1, dtype=np.int64)
    local, uniques = pd.factorize(raw.to_numpy()[unknown], sort=False)
    index[unknown] = local
    return index, np.asarray(uniques, dtype=object)
