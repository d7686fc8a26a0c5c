"""What the sequential models share: the history window, training on windows, dropout."""

from __future__ import annotations

from skmatch.models._params import check_choice, check_dropout, check_int
from skmatch.models.neural import TorchMatcher

SPARSE_EVENTS = 30  # mean events per user below which data counts as sparse


class SequentialMatcher(TorchMatcher):
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

    def _fit(self, inter, validation_data=None) -> None:
        self.dropout_ = self._resolve_dropout()
        super()._fit(inter, validation_data)

    def _resolve_dropout(self) -> float:
        """``dropout`` as a rate: ``"auto"`` resolved from the training data."""
        return self._auto_dropout() if self.dropout == "auto" else float(self.dropout)

    def _auto_dropout(self) -> float:
        """``dropout="auto"`` from the training data: 0.5 when users have fewer than
        ``SPARSE_EVENTS`` events on average (sparse data, like Amazon reviews), else 0.2
        (dense, like MovieLens ratings): the SASRec paper's two settings and the rule it
        states for them. Resolved once, in ``fit`` (``dropout_``)."""
        lengths = self.history_.lengths()
        mean = lengths[lengths > 0].mean() if (lengths > 0).any() else 0.0
        return 0.5 if mean < SPARSE_EVENTS else 0.2

    def _dropout_rate(self) -> float:
        """The fitted dropout rate (``dropout_``; ``dropout`` for files saved without it)."""
        rate = getattr(self, "dropout_", None)
        return self._resolve_dropout() if rate is None else rate

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.dropout != "auto":
            check_dropout(self.dropout)
        check_int(self.n_layers, "n_layers")
        check_choice(self.train_positions, "train_positions", ("all", "last"))
