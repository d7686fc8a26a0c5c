"""Callbacks of the training loop: clipping, LR schedule, early stopping, progress, checkpoints.

A callback overrides the hooks it needs; :func:`~skmatch.training.loop.fit_loop` calls
every callback at every hook, in list order. ``state_dict`` / ``load_state_dict`` hold
what a resumed fit needs (the :class:`Checkpoint` writes and restores them).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from skmatch.training import checkpoint as ckpt
from skmatch.training.loop import epoch_ends


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, state) -> None:
        """Before the first epoch (after a checkpoint's restoration)."""

    def on_after_backward(self, state) -> None:
        """After ``loss.backward()``, before the optimiser's step."""

    def on_batch_end(self, state) -> None:
        """After the optimiser's step."""

    def on_epoch_end(self, state) -> None:
        """After an epoch (``state.epoch`` counts it, its loss is recorded)."""

    def on_train_end(self, state) -> None:
        """After the last epoch."""

    def state_dict(self) -> dict:
        """What a resumed fit needs from this callback (entries of the checkpoint)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore from a checkpoint's entries."""


class GradientClipping(Callback):
    """Clip the gradients' total norm to ``max_norm`` before every step."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def on_after_backward(self, state) -> None:
        torch.nn.utils.clip_grad_norm_(state.module.parameters(), self.max_norm)


class LRSchedule(Callback):
    """Per-step decay of the learning rate to 0 over ``total_steps``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    kind : {"cosine", "linear"}
    total_steps : int
    """

    def __init__(self, optimizer, kind: str, total_steps: int) -> None:
        total_steps = max(total_steps, 1)
        if kind == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps)
        else:
            self.scheduler = torch.optim.lr_scheduler.LinearLR(
                optimizer, 1.0, 0.0, total_iters=total_steps
            )

    def on_batch_end(self, state) -> None:
        self.scheduler.step()

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])


class EarlyStopping(Callback):
    """Score the module after every epoch (and every ``state.validation_interval`` steps
    inside one); stop after ``patience`` validations without a better score, and end the
    fit with the best validation's weights.

    Parameters
    ----------
    score : callable
        ``score(module) -> float``, higher is better (validation NDCG@k).
    patience : int or None
        Validations without improvement before stopping; None only records the scores
        (no stop, the last epoch's weights kept).
    """

    def __init__(self, score, patience: int) -> None:
        self.score, self.patience = score, patience
        self.best, self.best_state, self.stale = -np.inf, None, 0

    @staticmethod
    def _inside(state) -> bool:
        """Whether the step just done is one of the epoch's validations before its end."""
        every, step = state.validation_interval, state.epoch_step
        return bool(every) and step % every == 0 and step < state.steps_per_epoch

    def on_batch_end(self, state) -> None:
        if self._inside(state):
            self._validate(state, state.epoch + state.epoch_step / state.steps_per_epoch)

    def on_epoch_end(self, state) -> None:
        if not self._inside(state):  # else a validation inside the epoch just stopped it
            self._validate(state, float(state.epoch))

    def _validate(self, state, where: float) -> None:
        score = state.strategy.from_main(self.score(state.module))  # rank 0's decides
        state.validation_scores.append(score)
        state.validation_epochs.append(where)
        if self.patience is None:  # scores recorded only
            return
        if score > self.best:
            self.best, self.stale = score, 0
            self.best_state = copy.deepcopy(state.module.state_dict())
            state.best_epoch = math.ceil(where)
        else:
            self.stale += 1
            state.stop = self.stale >= self.patience

    def on_train_end(self, state) -> None:
        if self.best_state is not None:
            state.module.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        best = self.best_state
        return {
            "best": float(self.best),
            "best_state": None if best is None else {k: v.detach().cpu() for k, v in best.items()},
            "stale": self.stale,
        }

    def load_state_dict(self, state: dict) -> None:
        # the best weights stay on the CPU: on_train_end copies them into the module
        self.best, self.best_state, self.stale = state["best"], state["best_state"], state["stale"]


class Progress(Callback):
    """One progress bar per fit (``tqdm.auto``: a terminal bar, or a widget in Jupyter):
    steps done, then each epoch's loss, validation score and best epoch.

    Parameters
    ----------
    name : str
        The bar's label (the model's name).
    metric : str
        Name of the validation score (e.g. ``"ndcg@10"``).
    """

    def __init__(self, name: str, metric: str) -> None:
        self.name, self.metric, self.bar = name, metric, None

    def _open(self, state):
        if self.bar is None and state.strategy.rank == 0:
            from tqdm.auto import tqdm

            total = state.n_epochs * state.steps_per_epoch
            self.bar = tqdm(total=total, initial=state.epoch * state.steps_per_epoch,
                            desc=self.name, unit="step", dynamic_ncols=True)  # fmt: skip
        return self.bar

    def on_batch_end(self, state) -> None:
        bar = self._open(state)
        if bar is not None:
            bar.update(1)

    def on_epoch_end(self, state) -> None:
        bar = self._open(state)
        if bar is None:
            return
        post = {"epoch": f"{state.epoch}/{state.n_epochs}", "loss": f"{state.loss_curve[-1]:.4f}"}
        if state.validation_scores:
            post[f"val {self.metric}"] = f"{state.validation_scores[-1]:.4f}"
            post["best"] = state.best_epoch
        bar.set_postfix(post, refresh=True)

    def on_train_end(self, state) -> None:
        if self.bar is not None:
            if state.stop:
                self.bar.set_description(f"{self.name} (stopped early)")
            self.bar.close()


class Checkpoint(Callback):
    """Write the fit's state after every epoch, atomically; restore it to resume.

    Parameters
    ----------
    directory : path
        Holds the one checkpoint file.
    fingerprint : str
        What a checkpoint must match to be resumed (model, settings, data).
    resume : dict or None
        A checkpoint read back (:func:`~skmatch.training.checkpoint.load_checkpoint`):
        the fit continues where it left off.
    components : sequence
        Callbacks and the logQ estimate whose ``state_dict`` the checkpoint holds.
    sampling : object
        The objective's ``log_q`` (its streaming state, if any).
    """

    def __init__(self, directory, fingerprint: str, resume, components, sampling) -> None:
        self.directory, self.fingerprint, self.resume = directory, fingerprint, resume
        self.components, self.sampling = components, sampling

    def on_train_begin(self, state) -> None:
        saved = self.resume
        if saved is None:
            return
        state.module.load_state_dict(saved["module"])
        state.optimizer.load_state_dict(saved["optimizer"])
        for component in self.components:
            component.load_state_dict(saved)
        ckpt.set_rng_state(state.rng, saved["numpy_rng"])
        torch.set_rng_state(saved["torch_rng"])
        if state.device.type == "cuda" and saved["cuda_rng"] is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], state.device)
        if saved.get("sampling"):  # absent in checkpoints written before it was kept
            self.sampling.load_state_dict(saved["sampling"])
        state.loss_curve[:] = saved["loss_curve"]
        state.validation_scores[:] = saved["validation_scores"]
        state.validation_epochs[:] = saved.get(  # files written before it: once an epoch
            "validation_epochs", epoch_ends(len(saved["validation_scores"]))
        )
        state.epoch = saved["epoch"]
        state.best_epoch = saved["best_epoch"]
        state.stop = saved["stopped"]

    def on_epoch_end(self, state) -> None:
        if state.strategy.rank == 0:  # written by rank 0; no rank runs ahead of it
            ckpt.save_checkpoint(self.directory, self._entries(state))
        state.strategy.barrier()

    def _entries(self, state) -> dict:
        module = state.module
        entries = {
            "fingerprint": self.fingerprint,
            "epoch": state.epoch,
            "module": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "optimizer": state.optimizer.state_dict(),
            "numpy_rng": ckpt.rng_state(state.rng),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if state.device.type == "cuda" else None,
            "loss_curve": list(state.loss_curve),
            "validation_scores": list(state.validation_scores),
            "validation_epochs": list(state.validation_epochs),
            "best_epoch": state.best_epoch,
            "stopped": state.stop,
            "sampling": self.sampling.state_dict(),
            # the entries of callbacks this fit may lack (the file's layout is fixed)
            "scheduler": None,
            "best": -math.inf,
            "best_state": None,
            "stale": 0,
        }
        for component in self.components:
            entries.update(component.state_dict())
        return entries
