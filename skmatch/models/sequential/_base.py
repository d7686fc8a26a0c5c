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
    windows (every position predicts its next item, in one pass; with
    ``window_stride`` the windows overlap and train their newest positions only),
    ``"last"`` on one example per interaction (its whole prefix). ``dropout="auto"``
    (SASRec's default; the others accept it) is resolved once in ``fit`` into
    ``dropout_``. Defaults follow the papers and RecBole: a full softmax over the
    catalogue (``negatives="all"``), which is what makes these models strong;
    ``"in_batch"`` or a sampler suit very large catalogues.
    """

    def _windowed(self) -> bool:
        return self.train_positions == "all"

    def _fit(self, inter, validation_data=None) -> None:
        self.window_stride_ = self._resolve_window_stride()
        super()._fit(inter, validation_data)

    def _resolve_window_stride(self) -> int | None:
        """``window_stride`` with ``"auto"`` resolved from the training histories: half
        the window when they are longer than the window on average (dense data, where
        disjoint windows cut most histories and leave the first targets of each window
        with little context), else disjoint windows (None). A stride is at most the
        window (a window cannot train more positions than it has)."""
        if self.train_positions != "all":
            return None
        window = self.feature_spec_.max_seq_len
        if self.window_stride != "auto":
            return None if self.window_stride is None else min(self.window_stride, window)
        return -(-window // 2) if self._mean_history() > window else None

    def _validate_params(self) -> None:
        super()._validate_params()
        check_int(self.n_layers, "n_layers")
        check_choice(self.train_positions, "train_positions", ("all", "last"))
        stride = self.window_stride
        if stride is not None and stride != "auto":
            if isinstance(stride, str):
                raise ValueError(
                    f"window_stride must be None, 'auto' or an integer >= 1, got {stride!r}."
                )
            check_int(stride, "window_stride")
            if self.train_positions != "all":
                raise ValueError(
                    f"window_stride={stride!r} applies to history windows only "
                    f"(train_positions='all'), not train_positions={self.train_positions!r}."
                )
