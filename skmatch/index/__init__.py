"""Top-k retrieval by inner product: exact (:class:`ExactIndex`) or HNSW (:class:`HNSWIndex`)."""

from __future__ import annotations

from typing import Any

from skmatch.index._deferred import DeferredIndex
from skmatch.index._exact import ExactIndex
from skmatch.index._hnsw import HNSWIndex

__all__ = ["DeferredIndex", "ExactIndex", "HNSWIndex", "make_index"]

_KINDS = ("auto", "exact", "hnsw")
# catalogues at least this large get an HNSW index under kind="auto"
AUTO_HNSW_MIN_ITEMS = 20_000


def make_index(
    kind: str = "auto",
    n_items: int | None = None,
    *,
    params: dict[str, Any] | None = None,
    random_state=0,
) -> ExactIndex | HNSWIndex:
    """Build an unfitted index by name.

    Parameters
    ----------
    kind : {"auto", "exact", "hnsw"}, default="auto"
        ``"auto"`` picks :class:`ExactIndex` when ``n_items < 20_000`` and
        :class:`HNSWIndex` otherwise.
    n_items : int, default=None
        Catalogue size; required when ``kind="auto"``.
    params : dict, default=None
        Keyword arguments forwarded to the index constructor. With ``kind="auto"``
        they may name parameters of either index; those of the index not chosen are
        dropped (``{"ef": 64}`` tunes HNSW on large catalogues, exact search below).
    random_state : int, RandomState instance or None, default=0
        Seed given to :class:`HNSWIndex` (unless ``params`` sets one); unused by
        :class:`ExactIndex`.

    Returns
    -------
    ExactIndex or HNSWIndex
        The unfitted index.

    Examples
    --------
    >>> from skmatch.index import make_index
    >>> make_index("auto", n_items=500)
    ExactIndex()
    >>> make_index("hnsw", params={"ef": 128})
    HNSWIndex(ef=128)
    """
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"index kind must be one of {list(_KINDS)}, got {kind!r}.")
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"index_params must be a dict or None, got {type(params).__name__}.")
    params = dict(params or {})
    if kind == "auto":
        if n_items is None:
            raise ValueError("n_items is required to choose an index with kind='auto'.")
        kind = "exact" if n_items < AUTO_HNSW_MIN_ITEMS else "hnsw"
        # the same params work for either choice: each index takes its own
        allowed = {*ExactIndex._get_param_names(), *HNSWIndex._get_param_names()}
        _check_param_names(params, sorted(allowed), "ExactIndex or HNSWIndex (index='auto')")
        chosen = (ExactIndex if kind == "exact" else HNSWIndex)._get_param_names()
        params = {k: v for k, v in params.items() if k in chosen}
    cls = ExactIndex if kind == "exact" else HNSWIndex
    if cls is HNSWIndex:
        params.setdefault("random_state", random_state)
    _check_param_names(params, cls._get_param_names(), cls.__name__)
    return cls(**params)


def _check_param_names(params: dict, valid: list[str], what: str) -> None:
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise TypeError(
            f"index_params has unknown parameter(s) {unknown} for {what}; valid: {valid}."
        )
