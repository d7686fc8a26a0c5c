"""The one training loop of every neural model (fit, resumed fit and partial_fit).

:func:`fit_loop` runs epochs of shuffled batches from a plan through an objective.
Everything else hooks in as a callback (:mod:`skmatch.training.callbacks`): gradient
clipping, the learning-rate schedule, early stopping, the progress bar and checkpoints
(which also resume an interrupted fit). Data parallelism is the ``strategy``
(:mod:`skmatch.training.distributed`): which units a process takes, how its loss
reaches the gradients, how the ranks agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class FitState:
    """What a fit has and has done; the callbacks read and change it.

    Attributes
    ----------
    module : RetrievalModule
    optimizer : torch.optim.Optimizer
    rng : numpy.random.Generator
        Shuffles the units and draws the negatives.
    device : torch.device
    strategy : SingleProcess or DataParallel
    n_epochs : int
        Epochs to run at most.
    steps_per_epoch : int
        Batches per epoch (of this process).
    epoch : int
        Epochs done.
    validation_interval : int
        Steps between two validations inside an epoch (the early-stopping callback
        also validates at every epoch's end); ``steps_per_epoch`` or more: once an epoch.
    epoch_step : int
        Steps done in the current epoch.
    loss_curve : list of float
        Mean training loss of every epoch done (the last one over its steps done, when
        early stopping ended it between two validations).
    validation_scores, validation_epochs : list of float
        Every validation's score, and where in the fit it was taken, in epochs (``2.5``:
        halfway through the third epoch).
    best_epoch : int or None
        The epoch during which early stopping took the weights it keeps.
    stop : bool
        Set by a callback to end the fit after this epoch.
    name : str
        The model's name, for messages.
    hint : str
        What to change when the loss diverges (said in the error).
    """

    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    device: torch.device
    strategy: object
    n_epochs: int
    steps_per_epoch: int
    validation_interval: int = 0
    epoch: int = 0
    epoch_step: int = 0
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    validation_epochs: list = field(default_factory=list)
    best_epoch: int | None = None
    stop: bool = False
    name: str = "model"
    hint: str = ""


def epoch_ends(n: int) -> list[float]:
    """Where ``n`` validations made once an epoch were taken: ``[1.0, 2.0, ..., n]`` (the
    ``validation_epochs`` of fits, checkpoints and files from before validations inside
    an epoch)."""
    return [float(e) for e in range(1, n + 1)]


def fit_loop(state: FitState, plan, objective, *, batch_size: int, amp, callbacks=()) -> FitState:
    """Train ``state.module`` on ``plan``'s units until ``state.n_epochs`` or a stop.

    Parameters
    ----------
    state : FitState
    plan : RowPlan or WindowPlan
        ``units`` to shuffle every epoch, ``batches(order, batch_size, rng)`` that cuts
        an epoch's order into batches, and ``batch(units, device)``.
    objective : Objective
        ``objective(module, batch, rng) -> loss``.
    batch_size : int
    amp : context manager
        Entered around every forward pass (bfloat16 autocast, or a no-op).
    callbacks : sequence of Callback
        Called in order at every hook.

    Returns
    -------
    FitState
    """
    module, strategy = state.module, state.strategy
    step = strategy.wrap(module, objective)  # through DistributedDataParallel under DDP
    for cb in callbacks:
        cb.on_train_begin(state)
    for epoch in range(state.epoch, state.n_epochs):
        if state.stop:
            break
        module.train()
        order, batch_rng = strategy.epoch_order(state.rng, plan.units)
        total = torch.zeros((), device=state.device)
        state.epoch_step = 0
        # the batches' order comes from the generator every rank shares: under DDP the
        # ranks' short batches then fall on the same step
        for units in plan.batches(order, batch_size, state.rng):
            batch = plan.batch(units, state.device)
            with amp:
                loss = step(batch, batch_rng)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for cb in callbacks:
                cb.on_after_backward(state)
            state.optimizer.step()
            state.epoch_step += 1
            for cb in callbacks:
                cb.on_batch_end(state)
            total += loss.detach()
            if state.stop:  # early stopping, at a validation inside the epoch
                break
        steps = state.epoch_step if state.stop else state.steps_per_epoch
        epoch_loss = float(strategy.mean(total)) / steps
        if not np.isfinite(epoch_loss):
            raise FloatingPointError(
                f"{state.name}: the training loss became {epoch_loss} at epoch {epoch + 1}. "
                f"{state.hint}"
            )
        state.loss_curve.append(epoch_loss)
        state.epoch = epoch + 1
        for cb in callbacks:
            cb.on_epoch_end(state)
    for cb in callbacks:
        cb.on_train_end(state)
    return state
