"""Feature handling: vocabularies, side tables, histories and queries (no torch here).

The public API is :class:`FeatureSpec` and what it produces (:class:`Interactions`,
:class:`UserHistory`, :class:`Vocabulary`). The other names are shared with the rest of
the package: the reserved codes and the code <-> index-position shift, queries (the
users to embed, from ids or a frame of histories), and the pieces of ``partial_fit``
that grow a fitted spec.
"""

from skmatch.features._history import UserHistory, gather_windows
from skmatch.features._incremental import combined_interactions, extend_spec
from skmatch.features._interactions import Interactions, key_ids, user_keys
from skmatch.features._query import (
    UserQuery,
    frame_labels,
    query_from_codes,
    query_from_frame,
    query_from_interactions,
    query_from_keys,
)
from skmatch.features._spec import FeatureSpec, new_user_index
from skmatch.features._state import spec_from_state, spec_to_state
from skmatch.features._vocab import (
    N_RESERVED,
    OOV,
    PAD,
    Vocabulary,
    code_to_position,
    position_to_code,
)

__all__ = [
    "N_RESERVED",
    "OOV",
    "PAD",
    "FeatureSpec",
    "Interactions",
    "UserHistory",
    "UserQuery",
    "Vocabulary",
    "code_to_position",
    "combined_interactions",
    "extend_spec",
    "frame_labels",
    "gather_windows",
    "key_ids",
    "new_user_index",
    "position_to_code",
    "query_from_codes",
    "query_from_frame",
    "query_from_interactions",
    "query_from_keys",
    "spec_from_state",
    "spec_to_state",
    "user_keys",
]
