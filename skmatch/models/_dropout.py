"""``dropout="auto"``: a dropout rate resolved from the training data's density."""

from __future__ import annotations

from skmatch.models._params import check_dropout

SPARSE_EVENTS = 30  # mean events per user below which data counts as sparse


class AutoDropout:
    """Mixin of the neural models whose ``dropout`` may be ``"auto"``.

    ``fit`` resolves ``dropout`` once into ``dropout_``: a rate as given, or for
    ``"auto"`` 0.5 when users have fewer than ``SPARSE_EVENTS`` events on average
    (sparse data, like Amazon reviews) and 0.2 otherwise (dense, like MovieLens ratings):
    the SASRec paper's two settings and the rule it states for them.
    """

    def _fit(self, inter, validation_data=None) -> None:
        self.dropout_ = self._resolve_dropout()
        super()._fit(inter, validation_data)

    def _resolve_dropout(self) -> float:
        """``dropout`` as a rate: ``"auto"`` resolved from the training data."""
        return self._auto_dropout() if self.dropout == "auto" else float(self.dropout)

    def _auto_dropout(self) -> float:
        return 0.5 if self._mean_history() < SPARSE_EVENTS else 0.2

    def _mean_history(self) -> float:
        """Mean events per user with any, in the training histories (0 when none)."""
        lengths = self.history_.lengths()
        return float(lengths[lengths > 0].mean()) if (lengths > 0).any() else 0.0

    def _dropout_rate(self) -> float:
        """The fitted dropout rate (``dropout_``; ``dropout`` for files saved without it)."""
        rate = getattr(self, "dropout_", None)
        return self._resolve_dropout() if rate is None else rate

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.dropout != "auto":
            check_dropout(self.dropout)
