"""The sequential family: GRU4Rec, NARM, SASRec, STAMP."""

from __future__ import annotations

from skmatch.models._init import make_init
from skmatch.models._params import check_choice, check_float, check_int
from skmatch.models._sequential_modules import GRU4RecModule, NARMModule, SASRecModule, STAMPModule
from skmatch.models._torch_base import TorchMatcher
from skmatch.models.two_tower import _ATTRS_DOC, _COMMON_DOC

_SEQ_NOTE = """
    The history window is the FeatureSpec's ``max_seq_len`` (most recent items,
    left-padded); new users are embedded from a DataFrame of their interactions, in
    time order, without refitting. Defaults follow the papers and RecBole: a full
    softmax over the catalogue (``negatives="all"``), which is what makes these models
    strong; pick ``"in_batch"`` or a sampler for very large catalogues.
"""


def _check_dropout(value, name: str) -> None:
    check_float(value, name)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}.")


class _Sequential(TorchMatcher):
    def _windowed(self) -> bool:
        return getattr(self, "train_positions", "last") == "all"

    def _validate_params(self) -> None:
        super()._validate_params()
        _check_dropout(self.dropout, "dropout")
        if hasattr(self, "train_positions"):
            check_choice(self.train_positions, "train_positions", ("all", "last"))


class _Recurrent(_Sequential):
    """GRU-based models: a GRU of ``hidden_size`` units and ``n_layers`` layers."""

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.hidden_size, "hidden_size")
        check_int(self.n_layers, "n_layers")


class GRU4Rec(_Recurrent):
    __doc__ = f"""GRU4Rec (Hidasi et al., ICLR 2016; Tan et al. 2016): a GRU over the history.

    The GRU runs over packed sequences, so padding never enters its state; its output,
    projected to ``embed_dim``, is scored against the item embeddings by dot product.
    With ``train_positions="all"`` every position of a history window predicts its next
    item in one pass; ``"last"`` trains one example per interaction (its whole prefix).
    {_SEQ_NOTE}
    Parameters
    ----------
    hidden_size : int, default 128
    n_layers : int, default 1
    dropout : float, default 0.2
        Dropout on the item embeddings (and between GRU layers).
    train_positions : {{"all", "last"}}, default "all"
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        hidden_size=128,
        n_layers=1,
        dropout=0.2,
        train_positions="all",
        negatives="all",
        batch_size=128,
    )

    def _build_module(self):
        return GRU4RecModule(
            self.n_item_codes_, self.embed_dim, self.hidden_size, self.n_layers, self.dropout
        )


class SASRec(_Sequential):
    __doc__ = f"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the history.

    Pre-layer-norm transformer blocks with learned positions (a window's newest item at
    the last position; in training, as in the paper, each slot keeps its position in
    the window), causal and padding masks built on the model's device;
    the state at the last position is the user vector, scored against the item
    embeddings (shared with the input) by dot product.
    {_SEQ_NOTE}
    Parameters
    ----------
    n_layers : int, default 2
    n_heads : int, default 2
        Must divide ``embed_dim``.
    dropout : float, default 0.2
        Dropout on embeddings, attention and feed-forward layers (0.5 suits sparse
        data such as Amazon Beauty).
    train_positions : {{"all", "last"}}, default "all"
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        n_layers=2,
        n_heads=2,
        dropout=0.2,
        train_positions="all",
        negatives="all",
        batch_size=128,
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_layers, "n_layers")
        check_int(self.n_heads, "n_heads")
        if self.embed_dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide embed_dim ({self.embed_dim}).")

    def _build_module(self):
        return SASRecModule(
            self.n_item_codes_,
            self.embed_dim,
            self.n_heads,
            self.n_layers,
            self.dropout,
            self.feature_spec_.max_seq_len,
        )


class NARM(_Recurrent):
    __doc__ = f"""NARM (Li et al., CIKM 2017): neural attentive session-based recommendation.

    A GRU encodes the history; the global representation is its last state, the local
    one an attention-weighted sum of its states (attention driven by the last state);
    a bilinear decoder maps both to ``embed_dim`` for the dot product with the item
    embeddings. With ``train_positions="all"`` one GRU pass over a history window gives
    the representation after every prefix (attention restricted to the states so far),
    and every position predicts its next item; ``"last"`` trains one example per
    interaction with its whole prefix as input (one GRU pass per example).
    {_SEQ_NOTE}
    Parameters
    ----------
    hidden_size : int, default 100
    n_layers : int, default 1
    dropout : float, default 0.25
        Dropout on the item embeddings.
    output_dropout : float, default 0.5
        Dropout before the bilinear decoder.
    train_positions : {{"all", "last"}}, default "all"
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        hidden_size=100,
        n_layers=1,
        dropout=0.25,
        output_dropout=0.5,
        train_positions="all",
        negatives="all",
        batch_size=128,
    )

    def _validate_params(self) -> None:
        super()._validate_params()
        _check_dropout(self.output_dropout, "output_dropout")

    def _build_module(self):
        return NARMModule(
            self.n_item_codes_,
            self.embed_dim,
            self.hidden_size,
            self.n_layers,
            self.dropout,
            self.output_dropout,
        )


class STAMP(_Sequential):
    __doc__ = f"""STAMP (Liu et al., KDD 2018): short-term attention/memory priority.

    The user vector is the element-wise product of two MLP outputs: one over the
    attention-weighted history (attention driven by each item, the last item and the
    history mean), one over the last item, the short-term memory. Trained on every
    interaction with its whole prefix as input.
    {_SEQ_NOTE}
    Parameters
    ----------
    dropout : float, default 0.0
        Unused by the architecture; kept for a uniform interface.
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(dropout=0.0, negatives="all")

    def _build_module(self):
        return STAMPModule(self.n_item_codes_, self.embed_dim)
