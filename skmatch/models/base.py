"""BaseMatcher: the retrieval API shared by every model (no torch here)."""

from __future__ import annotations

import sys
import warnings
from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone

from skmatch.exceptions import DataError, NotFittedError, UnknownIdError, format_values
from skmatch.features import (
    N_RESERVED,
    FeatureSpec,
    Interactions,
    UserHistory,
    UserQuery,
    code_to_position,
    combined_interactions,
    extend_spec,
    frame_labels,
    key_ids,
    new_user_index,
    position_to_code,
    query_from_codes,
    query_from_frame,
    query_from_interactions,
    query_from_keys,
    user_keys,
)
from skmatch.index import DeferredIndex, ExactIndex, make_index
from skmatch.models._merge import merge_interests
from skmatch.models._params import check_bool
from skmatch.utils._checks import check_k


class BaseMatcher(BaseEstimator):
    """Base class of retrieval models: users and items embedded in one space.

    Subclasses implement ``_fit(interactions)``, ``_user_vectors(query)`` returning
    ``(n, d)`` or ``(n, n_interests, d)`` float32, and ``_item_vectors()`` returning
    ``(n_items_, d)`` float32 for the known items in code order. This class provides
    ``fit``, ``recommend``, ``similar_items``, ``transform_users``, ``transform_items``,
    ``predict`` and ``score`` on top of them, with retrieval through ``index_``.

    Index position ``p`` of ``index_`` is item code ``p + 2`` (codes 0 and 1 are padding
    and out-of-vocabulary, never recommended).
    """

    # the history window of the FeatureSpec a model builds itself (``feature_spec=None``);
    # None: FeatureSpec's own default
    _default_window: int | None = None

    def _default_spec(self) -> FeatureSpec:
        """The ``FeatureSpec`` that ``feature_spec=None`` stands for."""
        window = self._default_window
        return FeatureSpec() if window is None else FeatureSpec(max_seq_len=window)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, *, validation_data=None):
        """Fit the model on interactions.

        Parameters
        ----------
        X : DataFrame or Interactions
            Raw interactions (the estimator's ``feature_spec`` is cloned and fitted
            on them) or the output of a fitted :class:`FeatureSpec`.
        y : None
            Ignored.
        validation_data : DataFrame, optional
            Held-out interactions (e.g. each user's next event) to score after every
            epoch, instead of the events that early stopping holds out of ``X``: each
            user is embedded from its history in ``X``, whose items are excluded, and
            ranked against the whole catalogue, as :meth:`score` does. With
            ``early_stopping`` the fit stops on their NDCG@``k`` and keeps the best
            epoch; without, the scores are recorded in ``validation_scores_``. Only the
            neural models take it.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_validation_data(validation_data)
        inter = self._prepare(X)
        spec = inter.spec
        self.feature_spec_ = spec
        self.history_ = inter.history
        self.n_users_ = spec.n_users_
        self.n_items_ = spec.n_items_
        self._fit(inter, validation_data)
        self._build_index()
        return self

    def _check_validation_data(self, validation_data) -> None:
        if validation_data is not None:
            raise TypeError(
                f"{type(self).__name__} does not train by epochs: validation_data is not "
                "used. Evaluate it with score() or skmatch.metrics.evaluate after fit."
            )

    def partial_fit(self, X, y=None):
        """Continue training on new interactions without refitting from scratch.

        New users and items in ``X`` join the vocabulary (their codes follow the known
        ones, so every known embedding keeps its row) and the index; each new
        interaction is learned from its user's whole history (the fitted one, then the
        earlier rows of ``X``), which is assumed to come after the fitted data. Neural
        models train one epoch over the rows of ``X`` (one example per interaction, a
        fresh optimiser); Popularity adds the counts. An unfitted estimator is fitted.

        Parameters
        ----------
        X : DataFrame
            New interactions, with the columns ``fit`` saw.
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Malformed ``X`` (a missing id or feature column, missing ids, retyped
            features). New users and items with side features are taken: each one's
            features come from its latest row, and unseen feature values join their
            vocabularies.
        """
        if not hasattr(self, "index_"):
            return self.fit(X)
        self._validate_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"partial_fit takes a DataFrame of interactions, got {type(X)}.")
        self._check_can_continue()
        spec = extend_spec(self.feature_spec_, X)
        inter, new_rows = combined_interactions(spec, self.history_, X)
        old_n_items = self.n_items_
        self.feature_spec_ = spec
        self.n_users_, self.n_items_ = spec.n_users_, spec.n_items_
        self.history_ = inter.history
        self._partial_fit(inter, new_rows, old_n_items)
        self._build_index()
        return self

    def _check_can_continue(self) -> None:
        """Raise when ``partial_fit`` cannot continue the fitted model (a hook)."""

    def _partial_fit(self, inter, new_rows, old_n_items) -> None:  # pragma: no cover
        raise NotImplementedError

    def set_params(self, **params):
        """Set parameters, as :meth:`sklearn.base.BaseEstimator.set_params`.

        ``feature_spec__<name>`` parameters reach the ``feature_spec``; when it is None
        (which stands for the model's default ``FeatureSpec``), that spec takes its place
        first, so that a grid can tune ``feature_spec__max_seq_len`` directly.

        Returns
        -------
        self : estimator
        """
        if "feature_spec" in self._get_param_names() and any(
            key.startswith("feature_spec__") for key in params
        ):
            if params.get("feature_spec", getattr(self, "feature_spec", None)) is None:
                params = {**params, "feature_spec": self._default_spec()}
        return super().set_params(**params)

    def _validate_params(self) -> None:
        check_k(self.k, "k")
        spec = getattr(self, "feature_spec", None)
        if spec is not None and not isinstance(spec, FeatureSpec):
            raise TypeError(f"feature_spec must be a FeatureSpec or None, got {type(spec)}.")
        # the index kind and parameter names, before any training (the index is built last)
        make_index(getattr(self, "index", "auto"), 1, params=getattr(self, "index_params", None))

    def _prepare(self, X) -> Interactions:
        if isinstance(X, Interactions):
            return X
        if isinstance(X, pd.DataFrame):
            spec = getattr(self, "feature_spec", None)
            spec = self._default_spec() if spec is None else clone(spec)
            return spec.fit(X).transform(X)
        raise TypeError(
            f"X must be a pandas DataFrame of interactions or an Interactions object "
            f"(the output of FeatureSpec.transform), got {type(X).__name__}."
        )

    def _make_index(self):
        return make_index(
            getattr(self, "index", "auto"),
            self.n_items_,
            params=getattr(self, "index_params", None),
            random_state=_seed_or_zero(getattr(self, "random_state", None)),
        )

    def _build_index(self) -> None:
        index = self._make_index()
        if not _is_main_process():  # after a distributed fit only rank 0 builds it now
            index = DeferredIndex(index)
        self.index_ = index.fit(self._item_vectors())

    # ------------------------------------------------------------------ hooks
    def _fit(self, inter: Interactions, validation_data=None) -> None:  # pragma: no cover
        raise NotImplementedError

    def _user_vectors(self, query: UserQuery) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _item_vectors(self) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "a DataFrame of interactions before using this method."
            )

    def _query(self, users) -> UserQuery:
        spec = self.feature_spec_
        if isinstance(users, pd.DataFrame):
            return query_from_frame(spec, users, self.history_)
        if isinstance(users, Interactions):
            return query_from_interactions(users)
        if isinstance(users, str) or np.ndim(users) == 0:
            raise TypeError(
                f"users must be an array-like of user ids or a DataFrame of interactions, "
                f"got {users!r}; wrap a single id in a list."
            )
        arr = np.asarray(users, dtype=object)
        if arr.ndim != 1:
            raise ValueError(f"users must be one-dimensional, got shape {arr.shape}.")
        if arr.size == 0:
            raise ValueError("users is empty: pass at least one user id.")
        codes = spec.encode_users(arr)
        return query_from_codes(spec, self.history_, codes)

    def _item_positions(self, items, *, what: str, unknown: str = "error") -> np.ndarray:
        """Index positions of raw item ids: unknown ids raise (``"error"``), are dropped
        (``"ignore"``) or give -1 (``"ignore_mask"``, one position per id)."""
        spec = self.feature_spec_
        arr = np.asarray(items, dtype=object).ravel()
        codes = spec.encode_items(arr, handle_unknown="oov")
        bad = codes < N_RESERVED
        if bad.any() and unknown == "error":
            raise UnknownIdError(
                f"{what} has {bad.sum()} item id(s) unseen during fit, first "
                f"{format_values(arr[bad].tolist())}."
            )
        if unknown == "ignore_mask":
            return np.where(bad, -1, code_to_position(codes))
        return code_to_position(codes[~bad])

    # ------------------------------------------------------------------ embeddings
    def transform_users(self, X) -> np.ndarray:
        """Embed users.

        Parameters
        ----------
        X : array-like of user ids, or DataFrame of interactions
            Known users are embedded from their fit-time history; the users of a
            DataFrame are embedded from the history it gives (new users work).

        Returns
        -------
        ndarray of shape (n_users, d) or (n_users, n_interests, d), float32
        """
        self._check_fitted()
        return np.asarray(self._user_vectors(self._query(X)), dtype=np.float32)

    def transform(self, X) -> np.ndarray:
        """Alias of :meth:`transform_users`, so that ``Pipeline.transform`` works."""
        return self.transform_users(X)

    def transform_items(self, items=None) -> np.ndarray:
        """Embed items.

        Parameters
        ----------
        items : array-like of item ids, or DataFrame, optional
            Known item ids; or a frame of items (the item column and every item feature
            of the FeatureSpec), which may hold items unseen in fit: those are embedded
            from their features alone (cold start; see :meth:`add_items`), known ones
            keep their fitted vectors. All known items, in code order, when None.

        Returns
        -------
        ndarray of shape (n_items, d), float32
        """
        self._check_fitted()
        if isinstance(items, pd.DataFrame):
            spec = self._items_spec(items)
            vectors = np.asarray(self._grown_item_vectors(spec), dtype=np.float32)
            codes = spec.encode_items(items[spec.item_col], handle_unknown="oov")
            return vectors[code_to_position(codes)]
        vectors = np.asarray(self._item_vectors(), dtype=np.float32)
        if items is None:
            return vectors
        return vectors[self._item_positions(items, what="items")]

    def add_items(self, items: pd.DataFrame):
        """Add items unseen in fit to the catalogue, embedded from their side features.

        Each new item's features come from its latest row of ``items``; values unseen in
        fit join their feature's vocabulary. The items get the next codes (every known
        code keeps its meaning), their vectors enter ``item_vectors_`` and the serving
        index, so :meth:`recommend` and :meth:`similar_items` can return them. Nothing is
        trained: a new item's id has no learned embedding (it adds nothing), so its
        vector is what the model makes of its features. Known ids in ``items`` keep
        their fitted features and vectors.

        Parameters
        ----------
        items : DataFrame
            The item column and every item feature column of the FeatureSpec.

        Returns
        -------
        self
        """
        self._check_fitted()
        if not isinstance(items, pd.DataFrame):
            raise TypeError(f"add_items takes a DataFrame of items, got {type(items).__name__}.")
        spec = self._items_spec(items)
        self._add_items(spec)
        self.feature_spec_, self.n_items_ = spec, spec.n_items_
        self.history_ = UserHistory(self.history_.indptr, self.history_.items, len(spec.items_))
        self._build_index()
        return self

    def _items_spec(self, items: pd.DataFrame):
        """The fitted spec grown by the new items of ``items``."""
        return extend_spec(self.feature_spec_, items, sides=("item",))

    def _grown_item_vectors(self, spec) -> np.ndarray:  # pragma: no cover - abstract
        """Item vectors of every item of ``spec`` (the fitted spec grown by new items)."""
        raise NotImplementedError

    def _add_items(self, spec) -> None:  # pragma: no cover - abstract
        """Take the new items of ``spec`` into the fitted state (the vectors)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ retrieval
    def recommend(
        self,
        users,
        k: int = 10,
        *,
        filter_seen: bool = True,
        exclude=None,
        candidates=None,
        return_scores: bool = True,
    ):
        """Top-k items for each user, best first.

        Parameters
        ----------
        users : array-like of user ids, or DataFrame of interactions
            As in :meth:`transform_users`.
        k : int, default 10
            Number of items per user. Rows are padded (id sentinel, score -inf) when
            fewer than ``k`` items qualify.
        filter_seen : bool, default True
            Exclude the items in each user's history.
        exclude : array-like of item ids, or a sequence of them per user, optional
            Items never to recommend: one list for every user, or one list per user
            (``[["i1"], ["i2", "i3"]]``, in the order of ``users``); unknown ids are
            ignored.
        candidates : array-like of item ids, optional
            Restrict the ranking to these items (exact scoring over them).
        return_scores : bool, default True
            Also return the scores.

        Returns
        -------
        item_ids : ndarray of shape (n_users, k)
            Raw item ids; padding is -1 for integer ids (when -1 is not an id) else None.
        scores : ndarray of shape (n_users, k), float32
            Only when ``return_scores``.
        """
        self._check_fitted()
        k = self._check_k(k)
        filter_seen = check_bool(filter_seen, "filter_seen")  # "no" must not mean True
        return_scores = check_bool(return_scores, "return_scores")
        query = self._query(users)
        pos, scores = self._recommend_positions(
            query, k, filter_seen=filter_seen, exclude=exclude, candidates=candidates
        )
        ids = self.feature_spec_.inverse_transform_items(position_to_code(pos))
        return (ids, scores) if return_scores else ids

    def _check_k(self, k) -> int:
        """A cut-off of at most the catalogue: (n, k) results must stay allocatable."""
        k = check_k(k)
        if k > self.n_items_:
            raise ValueError(
                f"k={k} exceeds the {self.n_items_} items the model knows; ask for at most "
                f"{self.n_items_} (rows are padded when filtering leaves fewer items)."
            )
        return k

    def _recommend_positions(self, query, k, *, filter_seen=True, exclude=None, candidates=None,
                             exact=False):  # fmt: skip
        n = len(query)
        excl = sp.csr_matrix((n, self.n_items_), dtype=np.float32)
        if filter_seen:
            excl = excl + query.seen()[:, N_RESERVED:]
        if exclude is not None:
            excl = excl + self._exclusion_matrix(exclude, n)
        excl = excl.tocsr()
        excl.eliminate_zeros()
        vectors = np.asarray(self._user_vectors(query), dtype=np.float32)
        index, col_map = self.index_, None
        if exact and not isinstance(index, ExactIndex):  # evaluation: full ranking, never ANN
            index = ExactIndex().fit(np.asarray(self._item_vectors(), np.float32))
        if candidates is not None:
            col_map = np.unique(self._item_positions(candidates, what="candidates"))
            index = ExactIndex().fit(np.asarray(self._item_vectors(), np.float32)[col_map])
            excl = excl[:, col_map]
        n_int = vectors.shape[1] if vectors.ndim == 3 else 1
        if n_int > 1:
            excl = excl[np.repeat(np.arange(n), n_int)]
        pos, scores = index.search(vectors.reshape(n * n_int, -1), k, exclude=excl)
        if col_map is not None:
            pos = np.where(pos >= 0, col_map[np.clip(pos, 0, None)], -1)
        if vectors.ndim == 3:  # one list per interest, merged
            pos, scores = self._merge_interests(pos.reshape(n, -1), scores.reshape(n, -1), k)
        return pos, scores

    def _exclusion_matrix(self, exclude, n: int) -> sp.csr_matrix:
        """``(n, n_items_)`` CSR of the items ``exclude`` bans: one list for every user,
        or one list per user (a sequence of ``n`` lists); unknown ids are ignored."""
        if not isinstance(exclude, np.ndarray | pd.Series | list | tuple):
            exclude = list(exclude)  # a generator or set, read once
        if _per_user(exclude):
            if len(exclude) != n:
                raise ValueError(
                    f"exclude has {len(exclude)} per-user lists for {n} users; give one list "
                    "per user, in the order of users, or one flat list for everyone."
                )
            lengths = np.array([len(e) for e in exclude], dtype=np.int64)
            flat = [i for e in exclude for i in e]  # one pass over the ids, vectorised below
            cols = self._item_positions(flat, what="exclude", unknown="ignore_mask")
            rows = np.repeat(np.arange(n), lengths)[cols >= 0]
            data = np.ones(rows.size, dtype=np.float32)
            mat = sp.csr_matrix((data, (rows, cols[cols >= 0])), shape=(n, self.n_items_))
            mat.sum_duplicates()
            mat.data[:] = 1.0
            return mat
        cols = self._item_positions(exclude, what="exclude", unknown="ignore")
        mask = np.zeros(self.n_items_, dtype=np.float32)
        mask[cols] = 1.0
        return sp.csr_matrix(np.ones((n, 1), dtype=np.float32)) @ sp.csr_matrix(mask)

    def _merge_interests(self, pos, scores, k):
        """Merge the concatenated per-interest results ``[n, K * k]`` into ``[n, k]``."""
        return merge_interests(pos, scores, k)

    def similar_items(self, items, k: int = 10):
        """The ``k`` items closest to each given item (the item itself excluded).

        Parameters
        ----------
        items : array-like of item ids
        k : int, default 10

        Returns
        -------
        item_ids, scores : ndarray of shape (n_items_queried, k)
        """
        self._check_fitted()
        k = self._check_k(k)
        pos = self._item_positions(items, what="items")
        vectors = np.asarray(self._item_vectors(), dtype=np.float32)[pos]
        excl = [np.array([p]) for p in pos]
        found, scores = self.index_.search(vectors, k, exclude=excl)
        ids = self.feature_spec_.inverse_transform_items(position_to_code(found))
        return ids, scores

    def predict(self, X) -> np.ndarray:
        """Item ids recommended (``k`` of them) to the users of ``X``."""
        return self.recommend(X, k=self.k, return_scores=False)

    # ------------------------------------------------------------------ evaluation
    def _test_targets(self, X):
        """User keys (see :meth:`Interactions.user_keys`), relevant item positions of
        held-out rows ``X`` and the raw ids of the users outside the vocabulary."""
        self._check_fitted()
        return self._held_out_targets(X)

    def _held_out_targets(self, X):
        """:meth:`_test_targets` against the fitted spec (during ``fit`` too)."""
        spec = self.feature_spec_
        if isinstance(X, Interactions):
            users, items, new_users = X.user_keys(), X.item_codes, X.new_users
            # raw ids of unseen items are not kept: each such row is an item of its own
            unseen = np.arange(items.size)
        elif isinstance(X, pd.DataFrame):
            raw = _col(X, spec.user_col)
            codes = spec.encode_users(raw, handle_unknown="oov")
            new_index, new_users = new_user_index(pd.Series(raw), codes)
            users = user_keys(codes, new_index)
            raw_items = _col(X, spec.item_col)
            items = spec.encode_items(raw_items, handle_unknown="oov")
            unseen = pd.factorize(pd.Series(np.asarray(raw_items, dtype=object)))[0]
        else:
            raise TypeError(f"X must be a DataFrame or Interactions, got {type(X).__name__}.")
        labels = frame_labels(spec, X)
        n_rows = users.size
        if labels is not None:  # rows labelled <= 0 are explicit negatives: not relevant
            users, items, unseen = users[labels > 0], items[labels > 0], unseen[labels > 0]
        if users.size == 0:
            why = (
                f"all {n_rows} rows have {spec.label_col!r} <= 0 (explicit negatives)"
                if n_rows
                else "X has no rows"
            )
            raise DataError(
                f"Nothing to evaluate: {why}. Held-out interactions need at least one "
                "positive row (a relevant item) to rank."
            )
        uniq, inverse = np.unique(users, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=uniq.size))[:-1]
        # test items unseen in fit (code 1) are relevant misses, one distinct id (<= -2)
        # per distinct item: never recommended, never padding (-1), never merged
        positions = np.where(items >= N_RESERVED, code_to_position(items), -2 - unseen)
        targets = np.split(positions[order], bounds)
        return uniq, targets, new_users

    def rank_test(self, X, k: int):
        """Rank held-out rows ``X``: (relevant positions per user, top-k positions).

        Each user of ``X`` is embedded from its fit-time history, whose items are
        excluded, and ranked against the whole catalogue exactly (never through an
        approximate index); users unseen in fit are new users, each apart, from an empty
        history. ``-1`` marks padding; each test item unseen during fit is a relevant
        item that is never recommended (a miss), with an id of its own below ``-1``.
        """
        users, targets, new_users = self._test_targets(X)
        n_new = int((users < 0).sum())
        if n_new:
            first = key_ids(self.feature_spec_, users[users < 0], new_users)
            warnings.warn(
                f"{n_new} of {users.size} users of X were not seen in fit (first: "
                f"{format_values(first)}); each is ranked as a new user, from an empty "
                "history. If they should be known, check that the id types match the "
                "fitted ones (e.g. str against int).",
                UserWarning,
                stacklevel=3,
            )
        query = query_from_keys(self.feature_spec_, self.history_, users, new_users)
        pos, _ = self._recommend_positions(query, self._check_k(k), exact=True)
        return targets, pos

    def score(self, X, y=None) -> float:
        """Mean NDCG@``k`` of the held-out interactions ``X`` (full-catalogue ranking).

        Parameters
        ----------
        X : DataFrame or Interactions
            Held-out interactions of (mostly) known users, e.g. the test rows of
            :class:`~skmatch.model_selection.LeaveLastOut`.
        y : None
            Ignored.
        """
        from skmatch.metrics import ndcg_at_k

        targets, pos = self.rank_test(X, self.k)
        return ndcg_at_k(targets, pos, self.k)

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Save the fitted model to ``path`` without pickle.

        One file of tensors, strings and numbers, read back by :meth:`load` with
        ``torch.load(weights_only=True)``: loading it cannot execute code. Ids and
        categories must be ints, floats, bools or strings.
        """
        from skmatch.models._persist import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (never unpickles; always on CPU)."""
        from skmatch.models._persist import load_model

        return load_model(path, expected=cls)

    def _state(self):
        """(JSON-able dict, dict of arrays, torch state dict or None) of the fitted model."""
        return {}, {}, None

    def _restore(self, meta: dict, arrays: dict, module_state) -> None:
        """Inverse of :meth:`_state`."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _col(X: pd.DataFrame, name: str) -> pd.Series:
    if name not in X.columns:
        from skmatch.exceptions import DataError

        raise DataError(
            f"X lacks the column {name!r}; it has {format_values(list(X.columns), 10)}."
        )
    return X[name]


def _per_user(exclude) -> bool:
    """Whether ``exclude`` holds one list per user (every entry a list, tuple, set or
    array: a 2-D array is one row per user) rather than item ids; a mix is refused."""
    if isinstance(exclude, str | bytes) or not hasattr(exclude, "__iter__"):
        return False
    if isinstance(exclude, np.ndarray) and exclude.ndim == 2:
        return True
    nested = [isinstance(e, list | tuple | set | np.ndarray | pd.Series) for e in exclude]
    if any(nested) and not all(nested):
        raise TypeError(
            "exclude mixes item ids and lists: pass one flat list of item ids (banned for "
            "every user) or one list per user."
        )
    return bool(nested) and all(nested)


def _is_main_process() -> bool:
    """Whether this process is rank 0 of a torch process group, or in none. (A process
    group exists only once torch is imported: this module never imports it.)"""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return True
    return dist.get_rank() == 0


def _seed_or_zero(random_state) -> int:
    if isinstance(random_state, Integral):
        return int(random_state)
    return 0
