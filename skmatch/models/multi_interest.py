"""The multi-interest family: MIND, ComirecDR, ComirecSA, SINE."""

from __future__ import annotations

import numpy as np

from skmatch.exceptions import format_values
from skmatch.features._vocab import N_RESERVED
from skmatch.models._diversity import diversify
from skmatch.models._init import make_init
from skmatch.models._merge import merge_interests
from skmatch.models._multi_interest_modules import (
    ComirecDRModule,
    ComirecSAModule,
    MINDModule,
    SINEModule,
)
from skmatch.models._params import check_choice, check_float, check_int, check_widths
from skmatch.models._torch_base import TorchMatcher, _trim_padding
from skmatch.models.two_tower import _ATTRS_DOC, _COMMON_DOC

_MI_NOTE = """
    :meth:`transform_users` returns ``(n_users, n_interests, embed_dim)``;
    :meth:`recommend` searches the one item index with every interest and merges the
    lists (an item's score is its best interest's score, no duplicates). With
    ``diversity > 0`` the merged candidates are re-ranked greedily for category
    diversity (ComiRec's controllable aggregation) by ``category_feature``, and
    the items come in the greedy order (their scores, each item's best interest
    score, then need not decrease); ``diversity`` may be changed after fitting. New
    users are embedded from a DataFrame of their interactions. The default is a full
    softmax over the catalogue (``negatives="all"``); use ``"in_batch"`` or a sampler
    for very large catalogues.
"""

_MI_PARAMS = """n_interests : int, default 4
        Number of interest vectors per user (Torch-RecHub's ``interest_num``).
    diversity : float, default 0.0
        ComiRec's ``lambda``: weight of category diversity in the aggregation of the
        interests' results (0 ranks by score alone).
    category_feature : str, optional
        Item feature of the FeatureSpec holding each item's category (single- or
        multi-valued); needed when ``diversity > 0``."""


class _MultiInterest(TorchMatcher):
    """Shared training rule and retrieval of the multi-interest models."""

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_interests, "n_interests")
        self._check_diversity(spec=None)

    def _check_diversity(self, spec) -> None:
        """``diversity`` and ``category_feature``; against ``spec`` when it is known."""
        check_float(self.diversity, "diversity")
        if self.category_feature is None:
            if self.diversity > 0:
                raise ValueError(
                    f"diversity={self.diversity} needs category_feature: the name of an "
                    "item feature of the FeatureSpec (e.g. 'genres') giving each item's "
                    "category."
                )
            return
        if spec is None:
            return
        if self.category_feature not in spec.item_features:
            raise ValueError(
                f"category_feature={self.category_feature!r} is not an item feature of the "
                f"FeatureSpec; its item_features are {format_values(list(spec.item_features))}."
            )
        if spec.feature_kinds_[self.category_feature] == "dense":
            raise ValueError(
                f"category_feature={self.category_feature!r} is a dense feature; categories "
                "must be sparse or multi-valued."
            )

    def _fit(self, inter) -> None:
        self._check_diversity(self.feature_spec_)  # the fitted spec is known now
        super()._fit(inter)

    def _batch_loss(self, module, batch, rng):
        batch = _trim_padding(batch)
        pos_vec = module.item_forward(batch["pos"])  # [B, D]
        user = module.train_user(batch, pos_vec)  # [B, D]
        loss = self._loss(module, user, batch["pos"], batch, rng, pos_vec=pos_vec)
        return self._weight_share(loss, batch) + module.regularization()

    def _merge_interests(self, pos, scores, k):
        self._check_diversity(self.feature_spec_)
        if self.diversity == 0:
            return merge_interests(pos, scores, k)
        pos, scores = merge_interests(pos, scores, pos.shape[1])  # every distinct candidate
        return diversify(pos, scores, k, self._item_categories(), float(self.diversity))

    def _item_categories(self) -> np.ndarray:
        """Category codes of every item position, ``(n_items, W)``: distinct per row, 0 =
        none (out-of-vocabulary values count as none: they are no shared category)."""
        table = self.feature_spec_.item_table_[self.category_feature][N_RESERVED:]
        cats = table.reshape(table.shape[0], -1).copy()
        cats[cats < N_RESERVED] = 0
        cats.sort(axis=1)
        dup = np.zeros(cats.shape, dtype=bool)
        dup[:, 1:] = cats[:, 1:] == cats[:, :-1]
        cats[dup] = 0
        return cats


class MIND(_MultiInterest):
    __doc__ = f"""MIND (Li et al., CIKM 2019): Multi-Interest Network with Dynamic routing.

    Behaviour-to-interest dynamic routing with one bilinear map shared by all behaviours
    (routing logits start from a fixed Gaussian draw); each interest capsule,
    concatenated with the user's profile embedding, goes through ReLU layers. A user
    with ``n`` history items has ``max(1, min(n_interests, floor(log2 n)))`` interests
    (``dynamic_interests``; the unused slots repeat the first interest). Training scores
    the target against the label-aware attention of the interests,
    ``softmax(pow_p * <v_k, e_target>)``: ``pow_p=0`` averages them, large values pick
    the best one.
    {_MI_NOTE}
    Parameters
    ----------
    {_MI_PARAMS}
    routing_iters : int, default 3
    pow_p : float, default inf
        Sharpness of the label-aware attention; ``inf`` trains the interest closest to
        the target alone (hard attention, which the retrieval's max-merge matches: on
        MovieLens 100K NDCG@10 .062 against .042 at ``pow_p=2``).
    temperature : float, default 0.1
        Squashed capsules have norm < 1; the temperature scales their logits.
    hidden_dims : tuple of int, default ()
        ReLU layers over each capsule and the user profile (output ``embed_dim`` added);
        ``()`` uses the capsules as they are (and ignores user features).
    dynamic_interests : bool, default True
    {_COMMON_DOC}
    {_ATTRS_DOC}
    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> from skmatch.models import MIND
    >>> df = make_interactions(n_users=100, n_items=50, random_state=0)
    >>> model = MIND(n_epochs=2, embed_dim=16, random_state=0).fit(df)
    >>> model.transform_users(["u1", "u2"]).shape
    (2, 4, 16)
    """

    __init__ = make_init(
        n_interests=4,
        routing_iters=3,
        pow_p=float("inf"),
        hidden_dims=(),
        dynamic_interests=True,
        diversity=0.0,
        category_feature=None,
        negatives="all",
        temperature=0.1,
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.routing_iters, "routing_iters")
        check_float(self.pow_p, "pow_p", allow_inf=True)
        check_widths(self.hidden_dims, "hidden_dims")
        if not isinstance(self.dynamic_interests, (bool, np.bool_)):
            raise ValueError(
                f"dynamic_interests must be True or False, got {self.dynamic_interests!r}."
            )

    def _build_module(self):
        return MINDModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_interests,
            self.feature_spec_.max_seq_len,
            self.routing_iters,
            self._feature_defs("user"),
            tuple(self.hidden_dims),
            float(self.pow_p),
            bool(self.dynamic_interests),
        )


class ComirecDR(_MultiInterest):
    __doc__ = f"""ComiRec-DR (Cen et al., KDD 2020): multi-interest extraction by dynamic routing.

    Capsule routing with a bilinear map per history position and interest (every weight
    initialised), routing logits from zero; training scores the target against the
    interest closest to it (hard selection).
    {_MI_NOTE}
    Parameters
    ----------
    {_MI_PARAMS}
    routing_iters : int, default 3
    temperature : float, default 0.1
        Squashed capsules have norm < 1; the temperature scales their logits.
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        n_interests=4,
        routing_iters=3,
        diversity=0.0,
        category_feature=None,
        negatives="all",
        temperature=0.1,
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.routing_iters, "routing_iters")

    def _build_module(self):
        return ComirecDRModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_interests,
            self.feature_spec_.max_seq_len,
            self.routing_iters,
        )


class ComirecSA(_MultiInterest):
    __doc__ = f"""ComiRec-SA (Cen et al., KDD 2020): self-attentive multi-interest extraction.

    ``A = softmax(W2 tanh(W1 (H + P)))`` over the history (learned positions ``P``), one
    attention distribution per interest; the interests are ``A H``. Training scores
    the target against the interest closest to it (hard selection).
    {_MI_NOTE}
    Parameters
    ----------
    {_MI_PARAMS}
    attention_dim : int, optional
        Width of ``W1`` (``4 * embed_dim`` when None, as in the paper's code).
    temperature : float, default 0.1
        The interests are convex combinations of item embeddings (small dot
        products); the temperature scales their logits.
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        n_interests=4,
        attention_dim=None,
        diversity=0.0,
        category_feature=None,
        negatives="all",
        temperature=0.1,
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.attention_dim is not None:
            check_int(self.attention_dim, "attention_dim")

    def _build_module(self):
        return ComirecSAModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_interests,
            self.feature_spec_.max_seq_len,
            self.attention_dim or 4 * self.embed_dim,
        )


class SINE(_MultiInterest):
    __doc__ = f"""SINE (Tan et al., WSDM 2021): Sparse-Interest Network.

    A pool of ``n_concepts`` learned concepts; each user activates the ``n_interests``
    closest to a self-attentive summary of the history. Items are softly assigned to
    the active concepts (intention assignment), each concept attends over the history
    (attention weighting), and each interest is the layer-normalised sum of the items
    under both weights. Training scores the target against the interests aggregated by
    the predicted current intention (softmax of ``<interest, intention> /
    aggregation_temperature``); a penalty on the covariance between concepts pushes
    them apart (Eq. 10).
    {_MI_NOTE}
    Parameters
    ----------
    {_MI_PARAMS}
    n_concepts : int, default 50
        Size of the concept pool (>= ``n_interests``).
    retrieval : {"interests", "aggregated"}, default "interests"
        Retrieve with the ``n_interests`` interests, merged (the family's contract), or
        with the one vector the paper predicts with: the interests aggregated by the
        predicted intention (then :meth:`transform_users` is ``(n_users, embed_dim)``).
    aggregation_temperature : float, default 0.1
        The paper's ``tau``.
    covariance_weight : float, default 0.1
        The paper's ``lambda`` on the concept covariance penalty.
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        n_interests=4,
        n_concepts=50,
        aggregation_temperature=0.1,
        covariance_weight=0.1,
        retrieval="interests",
        diversity=0.0,
        category_feature=None,
        negatives="all",
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_concepts, "n_concepts")
        check_float(self.aggregation_temperature, "aggregation_temperature", strict=True)
        check_float(self.covariance_weight, "covariance_weight")
        check_choice(self.retrieval, "retrieval", ("interests", "aggregated"))
        if self.n_concepts < self.n_interests:
            raise ValueError(
                f"n_concepts ({self.n_concepts}) must be >= n_interests ({self.n_interests})."
            )

    def _build_module(self):
        return SINEModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_interests,
            self.n_concepts,
            self.feature_spec_.max_seq_len,
            float(self.aggregation_temperature),
            float(self.covariance_weight),
            self.retrieval == "aggregated",
        )
