"""Sampling-bias-corrected two-tower retrieval (Yi et al., RecSys 2019)."""

from __future__ import annotations

import os

import numpy as np
import torch

from skmatch.features import N_RESERVED, FeatureSpec
from skmatch.models._params import check_float, store_params
from skmatch.models.two_tower._base import TwoTowerMatcher
from skmatch.models.two_tower.dssm import DSSMModule
from skmatch.training.distributed import gather_codes, world


class StreamingFrequency:
    """The paper's streaming estimate of each item's sampling probability (Algorithm 2).

    ``B[i]`` tracks the average number of steps between two occurrences of item ``i``
    in a batch, ``B[i] <- (1 - alpha) B[i] + alpha (t - A[i])`` and ``A[i] <- t`` at
    step ``t``, updated every batch; ``log q(i) = -log B[i]``. Before any evidence an
    item is assumed seen once per epoch of ``steps`` steps.
    """

    def __init__(self, n_codes: int, steps: int, alpha: float) -> None:
        self.alpha = alpha
        self.last = np.zeros(n_codes, dtype=np.float64)
        self.gap = np.full(n_codes, float(steps), dtype=np.float64)
        self.step = 0

    def observe(self, pos: torch.Tensor) -> None:
        self.step += 1
        items = np.unique(gather_codes(pos).cpu().numpy())  # all ranks' under DDP
        a, t = self.alpha, self.step
        self.gap[items] = (1 - a) * self.gap[items] + a * (t - self.last[items])
        self.last[items] = t

    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        gap = torch.from_numpy(self.gap).to(codes.device)
        return -torch.log(gap[codes].clamp_min(1.0)).float()

    def state_dict(self) -> dict:
        return {
            "freq_last": torch.from_numpy(self.last.copy()),
            "freq_gap": torch.from_numpy(self.gap.copy()),
            "freq_step": int(self.step),
        }

    def load_state_dict(self, state: dict) -> None:
        self.last = state["freq_last"].numpy().astype(np.float64)
        self.gap = state["freq_gap"].numpy().astype(np.float64)
        self.step = int(state["freq_step"])


class YoutubeSBC(TwoTowerMatcher):
    """Sampling-bias-corrected two-tower retrieval (Yi et al., RecSys 2019).

    The DSSM towers with L2-normalised outputs (:class:`DSSM`'s module), trained with
    an in-batch softmax whose logits are corrected by the streaming estimate of each
    item's sampling probability: ``s(u, i) / temperature - log q(i)``, ``q(i) = 1 / B[i]``
    where ``B[i]`` tracks the average number of steps between two occurrences of item
    ``i`` in a batch (updated every batch, short last batches included).
    ``logq_correction=False`` turns the correction off (an ablation).

    Parameters
    ----------
    hidden_dims : tuple of int, default=(128,)
    user_hidden_dims, item_hidden_dims : tuple of int, optional
        Hidden layers of one tower, in place of ``hidden_dims``.
    activation : {"relu", "prelu", "gelu", "tanh", "sigmoid"}, default="relu"
    dropout : float, default=0.0
    freq_alpha : float, default=0.01
        Learning rate of the streaming frequency estimate, in (0, 1].
    temperature : float, default=0.05
    negatives : str, default="in_batch"
        The only kind the correction is defined for.
    feature_spec, embed_dim, mode, n_negatives, logq_correction, learning_rate
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    weight_decay, embedding_l2, batch_size, n_epochs, lr_schedule, clip_grad_norm
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    early_stopping, n_iter_no_change, validation_interval, device, amp, index, index_params, k
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : DSSMModule
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).
    """

    _allowed_negatives = ("in_batch",)

    _module_class = DSSMModule

    def __init__(
        self, *, hidden_dims: tuple[int, ...] = (128,),
        user_hidden_dims: tuple[int, ...] | None = None,
        item_hidden_dims: tuple[int, ...] | None = None, activation: str = "relu",
        dropout: float = 0.0, freq_alpha: float = 0.01, feature_spec: FeatureSpec | None = None,
        embed_dim: int = 64, mode: str = "listwise", negatives: str = "in_batch",
        n_negatives: int = 100, temperature: float = 0.05, logq_correction: bool = True,
        learning_rate: float = 1e-3, weight_decay: float = 0.0, embedding_l2: float = 0.0,
        batch_size: int = 256, n_epochs: int = 100, lr_schedule: str | None = None,
        clip_grad_norm: float | None = None, early_stopping: bool = True,
        n_iter_no_change: int = 10,
        validation_interval: int | str = "auto", device: str = "auto", amp: str | bool = "auto",
        index: str = "auto", index_params: dict | None = None, k: int = 10,
        checkpoint_dir: str | os.PathLike | None = None, warm_start: bool = False,
        verbose: bool = False, random_state: int | np.random.Generator | None = None, **aliases,
    ) -> None:  # fmt: skip
        store_params(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        check_float(self.freq_alpha, "freq_alpha", 0.0, strict=True)
        if self.freq_alpha > 1:
            raise ValueError(f"freq_alpha must be in (0, 1], got {self.freq_alpha}.")

    def _make_log_q(self, counts: np.ndarray, device) -> StreamingFrequency:
        n_rows = max(int(counts[N_RESERVED:].sum()), 1)
        size = world()[1]
        steps = max(n_rows // (self._resolve_batch_size(n_rows, size) * size), 1)  # all ranks
        self._frequency = StreamingFrequency(counts.size, steps, self.freq_alpha)
        return self._frequency  # kept after the fit: the estimate it ended with
