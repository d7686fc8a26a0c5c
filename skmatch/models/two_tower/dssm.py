"""DSSM (Huang et al., CIKM 2013) as a two-tower retriever."""

from __future__ import annotations

import os

import numpy as np
import torch

from skmatch.features import FeatureSpec
from skmatch.models._params import store_params
from skmatch.models.two_tower._base import TwoTowerMatcher, UserTowerModule
from skmatch.nn.mlp import MLP


class DSSMModule(UserTowerModule):
    """The user tower of :class:`UserTowerModule` and an item tower of the same shape
    (an MLP over the item's id and side features); both outputs L2-normalised."""

    def __init__(self, n_item_codes, dim, item_features, user_features, hidden_dims, dropout,
                 activation="relu", item_hidden_dims=None) -> None:  # fmt: skip
        super().__init__(n_item_codes, dim, item_features, user_features, hidden_dims, dropout,
                         normalize=True, activation=activation)  # fmt: skip
        widths = hidden_dims if item_hidden_dims is None else item_hidden_dims
        self.item_mlp = MLP(self.items.out_dim, [*widths, dim], dropout, activation)

    def item_forward(self, codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        return self._out(self.item_mlp(self.items(codes)))


class DSSM(TwoTowerMatcher):
    """Deep Structured Semantic Model (Huang et al., CIKM 2013) as a two-tower retriever.

    The user tower is an MLP over the mean-pooled history (item ids and item side
    features, sharing the item embeddings) and the user's side features; the item tower
    is an MLP over the item id and side features. Both outputs are L2-normalised, so
    the score is the cosine similarity divided by ``temperature``. Trained with an
    in-batch softmax, logQ-corrected.

    Parameters
    ----------
    hidden_dims : tuple of int, default=(128,)
        Hidden layers of both towers (an output layer of ``embed_dim`` is added).
    user_hidden_dims, item_hidden_dims : tuple of int, optional
        Hidden layers of one tower, in place of ``hidden_dims``.
    activation : {"relu", "prelu", "gelu", "tanh", "sigmoid"}, default="relu"
    dropout : float, default=0.0
        Between the towers' layers.
    temperature : float, default=0.05
        Cosine similarities lie in [-1, 1]; the temperature scales their logits.
    feature_spec, embed_dim, mode, negatives, n_negatives, logq_correction
        Shared by the neural models: see :class:`~skmatch.models.TorchMatcher`.
    learning_rate, weight_decay, embedding_l2, batch_size, n_epochs, lr_schedule
        Shared training parameters (see :class:`~skmatch.models.TorchMatcher`).
    clip_grad_norm, early_stopping, n_iter_no_change, validation_interval, device, amp
        Shared (see :class:`~skmatch.models.TorchMatcher`).
    index, index_params, k, checkpoint_dir, warm_start, verbose, random_state
        Shared (see :class:`~skmatch.models.TorchMatcher`).

    Attributes
    ----------
    module_ : DSSMModule
        The trained towers.
    feature_spec_, index_, history_, item_vectors_, loss_curve_, n_iter_
        As for every neural model (see :class:`~skmatch.models.TorchMatcher`).

    See Also
    --------
    FaceBookDSSM : the same towers, trained pairwise on mixed negatives.
    YoutubeSBC : the same towers with a streaming estimate of the logQ correction.

    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> from skmatch.models import DSSM
    >>> df = make_interactions(n_users=100, n_items=50, random_state=0)
    >>> model = DSSM(n_epochs=2, random_state=0).fit(df)
    >>> model.transform_users(["u1", "u2"]).shape
    (2, 64)
    """

    _module_class = DSSMModule

    def __init__(
        self, *, hidden_dims: tuple[int, ...] = (128,),
        user_hidden_dims: tuple[int, ...] | None = None,
        item_hidden_dims: tuple[int, ...] | None = None, activation: str = "relu",
        dropout: float = 0.0, feature_spec: FeatureSpec | None = None, embed_dim: int = 64,
        mode: str = "listwise", negatives: str = "in_batch", n_negatives: int = 100,
        temperature: float = 0.05, logq_correction: bool = True, learning_rate: float = 1e-3,
        weight_decay: float = 0.0, embedding_l2: float = 0.0, batch_size: int = 256,
        n_epochs: int = 100, lr_schedule: str | None = None, clip_grad_norm: float | None = None,
        early_stopping: bool = True, n_iter_no_change: int = 10,
        validation_interval: int | str = "auto", device: str = "auto",
        amp: str | bool = "auto", index: str = "auto", index_params: dict | None = None,
        k: int = 10, checkpoint_dir: str | os.PathLike | None = None, warm_start: bool = False,
        verbose: bool = False, random_state: int | np.random.Generator | None = None, **aliases,
    ) -> None:  # fmt: skip
        store_params(self, locals())
