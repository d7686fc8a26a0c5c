"""Deep Neural Networks for YouTube Recommendations (Covington et al., RecSys 2016)."""

from __future__ import annotations

import os

import numpy as np
import torch

from skmatch.features import FeatureSpec
from skmatch.models._params import store_params
from skmatch.models.two_tower._base import TwoTowerMatcher, UserTowerModule


class YoutubeDNNModule(UserTowerModule):
    """The user tower of :class:`UserTowerModule` (not normalised); the item tower is
    the item id embedding, shared with the history (the softmax weights), plus the
    embeddings of the item's side features (summed: the same width)."""

    def __init__(self, n_item_codes, dim, item_features, user_features, hidden_dims, dropout,
                 activation="relu", item_hidden_dims=None) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim, item_features, user_features, hidden_dims, dropout,
                         normalize=False, activation=activation)  # fmt: skip

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        if not self.items.features:
            return self.items.id_embedding(codes)
        dim = self.items.id_embedding.embedding_dim
        return self.items(codes).view(*codes.shape, -1, dim).sum(-2)  # id + each feature


class YoutubeDNN(TwoTowerMatcher):
    """Deep Neural Networks for YouTube Recommendations (Covington et al., RecSys 2016).

    The user vector is an MLP over the mean-pooled watch history (item id and side
    features) and the user's profile features; the item tower is the item id embedding
    (the softmax weights, shared with the history embedding) plus the embeddings of the
    item's side features. Trained as a softmax over
    dot products with in-batch candidates, logQ-corrected (a sampled softmax).

    Parameters
    ----------
    hidden_dims : tuple of int, default=(128,)
        Hidden layers of the user MLP.
    activation : {"relu", "prelu", "gelu", "tanh", "sigmoid"}, default="relu"
    dropout : float, default=0.0
        Between the user MLP's layers.
    feature_spec, embed_dim, mode, negatives, n_negatives, temperature
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    logq_correction, learning_rate, weight_decay, embedding_l2, batch_size, n_epochs
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    lr_schedule, clip_grad_norm, early_stopping, n_iter_no_change, validation_interval, device, amp
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    index, index_params, k, checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : YoutubeDNNModule
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).
    """

    _module_class = YoutubeDNNModule

    def __init__(
        self, *, hidden_dims: tuple[int, ...] = (128,), activation: str = "relu",
        dropout: float = 0.0, feature_spec: FeatureSpec | None = None, embed_dim: int = 64,
        mode: str = "listwise", negatives: str = "in_batch", n_negatives: int = 100,
        temperature: float = 1.0, logq_correction: bool = True, learning_rate: float = 1e-3,
        weight_decay: float = 0.0, embedding_l2: float = 0.0, batch_size: int = 256,
        n_epochs: int = 100, lr_schedule: str | None = None, clip_grad_norm: float | None = None,
        early_stopping: bool = True, n_iter_no_change: int = 10,
        validation_interval: int | str = "auto", device: str = "auto",
        amp: str | bool = "auto", index: str = "auto", index_params: dict | None = None,
        k: int = 10, checkpoint_dir: str | os.PathLike | None = None, warm_start: bool = False,
        verbose: bool = False, random_state: int | np.random.Generator | None = None, **aliases,
    ) -> None:  # fmt: skip
        store_params(self, locals())
