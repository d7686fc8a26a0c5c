"""The training engine of the neural models: one loop, batch plans, one objective,
callbacks and the data-parallel strategy.

It trains a :class:`~skmatch.nn.protocol.RetrievalModule` on encoded
:class:`~skmatch.features.Interactions`; the estimators (:mod:`skmatch.models`) assemble
its pieces from their parameters. Nothing here imports an estimator.
"""

from skmatch.training.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    GradientClipping,
    LRSchedule,
    Progress,
)
from skmatch.training.loop import FitState, epoch_ends, fit_loop
from skmatch.training.objective import FrequencyLogQ, Objective
from skmatch.training.plans import RowPlan, WindowPlan, holdout_last, training_rows, windows

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "FitState",
    "FrequencyLogQ",
    "GradientClipping",
    "LRSchedule",
    "Objective",
    "Progress",
    "RowPlan",
    "WindowPlan",
    "epoch_ends",
    "fit_loop",
    "holdout_last",
    "training_rows",
    "windows",
]
