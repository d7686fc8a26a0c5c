"""The contract between the training engine, the estimators and their torch modules.

A :class:`Batch` is what a module reads: typed fields, never a dict of strings. A
:class:`RetrievalModule` is what every model's module is: the engine trains it through
:meth:`~RetrievalModule.train_forward` (rows) or :meth:`~RetrievalModule.sequence_forward`
(windows), the estimators embed with :meth:`~RetrievalModule.user_forward` and
:meth:`~RetrievalModule.item_forward`, and ONNX export traces those two.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn


@dataclass
class Batch:
    """One batch of users (rows) or of history windows.

    Attributes
    ----------
    hist : Tensor
        ``[B, L]`` int64 item codes of each user's history, most recent last, left-padded
        with 0 (for a window: the inputs of every position).
    user_features : dict of str -> Tensor
        Encoded user side features, one row per user (``[B]`` int64 codes, ``[B, T]``
        multi-valued codes or ``[B]`` float32 values).
    pos : Tensor or None
        ``[B]`` item code of each row's positive (rows only).
    targets : Tensor or None
        ``[W, L]`` item code each window position predicts, 0 where none (windows only).
    weight : Tensor or None
        ``[B]`` row weights, or ``[W, L]`` the weights of the targets (windows).
    label : Tensor or None
        ``[B]`` explicit labels (rows only; 0 for a labelled negative).
    norm : float or None
        Windows: the loss is the sum over the batch's targets (weighted) divided by
        ``norm``, the target weight a full batch holds on average, so that every target
        weighs the same however many its batch holds; None: the batch's mean.
    """

    hist: torch.Tensor
    user_features: dict[str, torch.Tensor] = field(default_factory=dict)
    pos: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    label: torch.Tensor | None = None
    norm: float | None = None

    @property
    def is_window(self) -> bool:
        """Whether every position of the batch predicts its next item."""
        return self.targets is not None

    def to(self, device, non_blocking: bool = False) -> Batch:
        """The batch on ``device``."""

        def move(t):
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return Batch(
            hist=move(self.hist),
            user_features={k: move(v) for k, v in self.user_features.items()},
            pos=move(self.pos),
            targets=move(self.targets),
            weight=move(self.weight),
            label=move(self.label),
            norm=self.norm,
        )

    def trim_padding(self) -> Batch:
        """The batch without the leading columns that are padding in every row.

        Histories are left-padded and positions right-aligned, so every result is
        unchanged while short-history batches (most of them on sparse data) cost far
        less. Window targets and their weights are cut with the history.
        """
        used = (self.hist != 0).any(0)
        if used.all() or not used.any():
            return self
        first = int(used.nonzero()[0, 0])
        trimmed = replace(self, hist=self.hist[:, first:])
        if self.is_window:
            trimmed.targets = self.targets[:, first:]
            if self.weight is not None:
                trimmed.weight = self.weight[:, first:]
        return trimmed


class RetrievalModule(nn.Module):
    """The torch module of a retrieval model: users and items in one vector space.

    Every model's module subclasses it and implements :meth:`user_forward` and
    :meth:`item_forward`; the other methods have defaults that a module overrides
    where it differs (a sequence model gives :meth:`sequence_forward`, a multi-interest
    model :meth:`train_forward` and :meth:`regularization`).

    Parameters
    ----------
    n_item_codes : int
        Size of the item code space (padding 0 and out-of-vocabulary 1 included).
    """

    def __init__(self, n_item_codes: int) -> None:
        super().__init__()
        self.n_item_codes = int(n_item_codes)

    def user_forward(self, batch: Batch) -> torch.Tensor:  # pragma: no cover - abstract
        """User vectors ``[B, D]``, or ``[B, K, D]`` (one per interest)."""
        raise NotImplementedError

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Item vectors ``[N, D]`` of item codes ``[N]``."""
        raise NotImplementedError

    def all_items(self, first: int) -> torch.Tensor:
        """``item_forward`` of every code from ``first`` on: ``[n_item_codes - first, D]``
        (the item side of a full softmax)."""
        codes = torch.arange(first, self.n_item_codes, device=self._device())
        return self.item_forward(codes)

    def sequence_forward(self, batch: Batch, positions: torch.Tensor | None = None):
        """States of every window position: ``[W, L, D]``, or ``[P, D]`` at the ``P``
        true entries of the boolean ``positions [W, L]``. Causal models only."""
        raise NotImplementedError(
            f"{type(self).__name__} has no per-position states: train it on rows."
        )

    def train_forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """What the loss scores for rows: user vectors ``[B, D]`` and the positives'
        item vectors ``[B, D]`` (in that order of computation)."""
        user = self.user_forward(batch)
        return user, self.item_forward(batch.pos)

    def regularization(self) -> torch.Tensor | float:
        """A penalty added to every step's loss (0 by default)."""
        return 0.0

    def _device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")  # pragma: no cover - every module has parameters
