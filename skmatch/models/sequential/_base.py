"""What the sequential models share: the history window, training on windows, dropout."""

from __future__ import annotations

from skmatch.models._dropout import AutoDropout
from skmatch.models._params import check_choice, check_int
from skmatch.models.neural import TorchMatcher


class SequentialMatcher(AutoDropout, TorchMatcher):
    """Base class of the causal sequence models (GRU4Rec, NARM, SASRec).

    The history window is the FeatureSpec's ``max_seq_len`` (most recent items,
    left-padded); new users are embedded from a DataFrame of their interactions, in
    time order, without refitting. ``train_positions="all"`` trains on history
    windows (every position predicts its next item, in one pass), ``"last"`` on one
    example per interaction (its whole prefix). ``dropout="auto"`` (SASRec's default;
    the others accept it) is resolved once in ``fit`` into ``dropout_``. Defaults follow the papers
    and RecBole: a full softmax over the catalogue (``negatives="all"``), which is what
    makes these models strong; ``"in_batch"`` or a sampler suit very large catalogues.
    """

    def _windowed(self) -> bool:
        return self.train_positions == "all"

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_layers, "n_layers")
        check_choice(self.train_positions, "train_positions", ("all", "last"))
