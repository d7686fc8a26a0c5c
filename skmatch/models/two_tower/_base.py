"""What the two-tower models share: an MLP user tower over the pooled history and the
user's features, and the checks of its parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from skmatch.models._params import check_choice, check_dropout, check_widths
from skmatch.models.neural import TorchMatcher
from skmatch.nn.mlp import ACTIVATIONS, MLP
from skmatch.nn.protocol import Batch, RetrievalModule
from skmatch.nn.towers import ItemEncoder, PooledHistory, UserFeatureEncoder


class TwoTowerMatcher(TorchMatcher):
    """Base class of the two-tower models: widths, ``activation`` and ``dropout`` of the
    towers of ``_module_class`` (a :class:`UserTowerModule`). ``user_hidden_dims`` and
    ``item_hidden_dims``, where the model has them, replace ``hidden_dims`` for one
    tower (Torch-RecHub's ``user_params`` and ``item_params``)."""

    _module_class: type

    def _validate_params(self) -> None:
        super()._validate_params()
        check_dropout(self.dropout)
        check_widths(self.hidden_dims, "hidden_dims")
        check_choice(self.activation, "activation", tuple(ACTIVATIONS))
        for name in ("user_hidden_dims", "item_hidden_dims"):
            if getattr(self, name, None) is not None:
                check_widths(getattr(self, name), name)

    def _widths(self, tower: str) -> tuple[int, ...]:
        own = getattr(self, f"{tower}_hidden_dims", None)
        return tuple(self.hidden_dims if own is None else own)

    def _build_module(self):
        return self._module_class(
            self.n_item_codes_,
            self.embed_dim,
            self._feature_defs("item"),
            self._feature_defs("user"),
            self._widths("user"),
            self.dropout,
            activation=self.activation,
            item_hidden_dims=self._widths("item"),
        )


class UserTowerModule(RetrievalModule):
    """An item encoder (id and side features) and a user tower: an MLP over the mean of
    the history's item encodings and the user's own features, L2-normalised or not.

    Parameters
    ----------
    n_item_codes, dim : int
    item_features, user_features : list of FeatureDef
    hidden_dims : sequence of int
        Hidden widths of the user MLP (an output layer of width ``dim`` is added).
    dropout : float
    normalize : bool
        L2-normalise the towers' outputs (the score is a cosine similarity).
    activation : str, default "relu"
        Between the MLPs' layers (see :class:`~skmatch.nn.mlp.MLP`).
    """

    def __init__(self, n_item_codes, dim, item_features, user_features, hidden_dims, dropout,
                 normalize: bool, activation: str = "relu") -> None:  # fmt: skip
        super().__init__(n_item_codes)
        self.items = ItemEncoder(n_item_codes, dim, item_features)
        self.history = PooledHistory(self.items)
        self.user_features = UserFeatureEncoder(dim, user_features)
        user_in = self.history.out_dim + self.user_features.out_dim
        self.user_mlp = MLP(user_in, [*hidden_dims, dim], dropout, activation)
        self.normalize = normalize

    def user_forward(self, batch: Batch) -> torch.Tensor:  # -> [B, D]
        parts = [self.history(batch.hist)]  # [B, Din]
        feats = self.user_features(batch.user_features)
        if feats is not None:
            parts.append(feats)
        return self._out(self.user_mlp(torch.cat(parts, dim=-1)))

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) if self.normalize else x
