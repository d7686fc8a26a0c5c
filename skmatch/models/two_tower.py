"""The two-tower family: DSSM, FaceBookDSSM, YoutubeDNN, YoutubeSBC."""

from __future__ import annotations

import numpy as np
import torch

from skmatch.features._vocab import N_RESERVED
from skmatch.models._distributed import gather_codes, world
from skmatch.models._init import make_init
from skmatch.models._params import check_float, check_widths
from skmatch.models._torch_base import TorchMatcher
from skmatch.models._two_tower_modules import TwoTowerModule

_COMMON_DOC = """
    feature_spec : FeatureSpec, optional
        Cloned and fitted when ``fit`` receives a raw DataFrame (a default
        ``FeatureSpec()`` when None); ignored for ``Interactions`` input.
    embed_dim : int, default 64
        Width of the embeddings and of both towers' outputs.
    mode : {"listwise", "pairwise", "pointwise"}
        Softmax cross-entropy, BPR, or binary cross-entropy.
    negatives : {"in_batch", "uniform", "popularity", "mixed", "hard", "all"}
        Where negatives come from (see :class:`TorchMatcher`); ``"all"`` scores every
        item of the catalogue (a full softmax in listwise mode). The default is the
        model's own (see its signature); YoutubeSBC accepts only ``"in_batch"``.
    n_negatives : int, default 100
        Sampled negatives per batch (shared by its rows), or hard negatives per row.
    temperature : float
        Logits are divided by it.
    logq_correction : bool, default True
        Subtract from each candidate's logit the log-probability of its being drawn as
        a candidate (its training frequency for in-batch candidates, the sampler's
        probability for sampled ones), so that in-batch softmax does not learn to
        demote popular items (Yi et al. 2019).
    learning_rate, weight_decay : float, default 1e-3, 0.0
        Adam (fused kernels where available).
    embedding_l2 : float, default 0.0
        L2 penalty on the batch's user and item vectors.
    batch_size, n_epochs : int, default 256, 10
    lr_schedule : {None, "cosine", "linear"}, default None
        Per-step decay of the learning rate to 0.
    clip_grad_norm : float, optional
    early_stopping : bool, default False
        Hold out each user's last event, stop when validation NDCG@k has not improved
        for ``n_iter_no_change`` epochs, and restore the best weights.
    n_iter_no_change : int, default 3
    device : {"auto", "cpu", "cuda"}, default "auto"
        CUDA when present.
    amp : {"auto", True, False}, default "auto"
        bfloat16 autocast of the training steps: ``"auto"`` on CUDA only, ``True`` on
        the CPU too (worth it on CPUs with native bfloat16, AVX512-BF16 or AMX: the
        full-softmax product runs several times faster), ``False`` never. Inference is
        float32 either way.
    index : {"auto", "exact", "hnsw"}, default "auto"
        Retrieval index (exact below 20,000 items); ``index_params`` go to it.
    k : int, default 10
        Cut-off of :meth:`score` and :meth:`predict`.
    verbose : bool, default False
        Progress bar and per-epoch loss.
    random_state : int or numpy.random.Generator, optional
        Seeds sampling, shuffling and initialisation (the global RNGs are untouched). An
        int gives the same result at every fit on CPU; a Generator is drawn from.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    feature_spec_ : FeatureSpec
    module_ : torch.nn.Module
    index_ : ExactIndex or HNSWIndex
    history_ : UserHistory
        Every user's training items in time order.
    item_vectors_ : ndarray of shape (n_items_, embed_dim)
    loss_curve_, validation_scores_ : list of float
    n_iter_ : int
        Epochs run.
    n_users_, n_items_ : int
"""


class _TwoTower(TorchMatcher):
    _normalize = True
    _item_mlp = True

    def _build_module(self):
        return TwoTowerModule(
            self.n_item_codes_,
            self.embed_dim,
            self._feature_defs("item"),
            self._feature_defs("user"),
            tuple(self.hidden_dims),
            self.dropout,
            normalize=self._normalize,
            item_mlp=self._item_mlp,
        )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_float(self.dropout, "dropout")
        if self.dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        check_widths(self.hidden_dims, "hidden_dims")


class DSSM(_TwoTower):
    __doc__ = f"""Deep Structured Semantic Model (Huang et al., CIKM 2013) as a two-tower retriever.

    The user tower is an MLP over the mean-pooled history (item ids and item side
    features, sharing the item embeddings) and the user's side features; the item tower
    is an MLP over the item id and side features. Both outputs are L2-normalised, so
    the score is the cosine similarity divided by ``temperature``.

    Parameters
    ----------
    hidden_dims : tuple of int, default (128,)
        Hidden layers of both towers.
    dropout : float, default 0.0
    {_COMMON_DOC}
    {_ATTRS_DOC}
    Examples
    --------
    >>> from skmatch.datasets import make_interactions
    >>> from skmatch.models import DSSM
    >>> df = make_interactions(n_users=100, n_items=50, random_state=0)
    >>> model = DSSM(n_epochs=2, random_state=0).fit(df)
    >>> model.transform_users(["u1", "u2"]).shape
    (2, 64)
    """

    __init__ = make_init(hidden_dims=(128,), dropout=0.0, temperature=0.05)


class FaceBookDSSM(DSSM):
    __doc__ = f"""Embedding-based retrieval of Facebook search (Huang et al., KDD 2020).

    The DSSM towers with cosine similarity, trained pairwise by default: BPR of the
    positive against in-batch and uniformly drawn negatives (``negatives="mixed"``;
    ``"hard"`` for the hardest of them). Training and inference
    use the same scoring function, so the index ranks exactly what the loss learned.

    Parameters
    ----------
    hidden_dims : tuple of int, default (128,)
    dropout : float, default 0.0
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(
        hidden_dims=(128,), dropout=0.0, temperature=0.05, mode="pairwise", negatives="mixed"
    )


class YoutubeDNN(_TwoTower):
    __doc__ = f"""Deep Neural Networks for YouTube Recommendations (Covington et al., RecSys 2016).

    The user vector is an MLP over the mean-pooled watch history (item id and side
    features) and the user's profile features; the item tower is the item id embedding
    (the softmax weights, shared with the history embedding). Trained as a sampled
    softmax over dot products.

    Parameters
    ----------
    hidden_dims : tuple of int, default (128,)
        Hidden layers of the user MLP.
    dropout : float, default 0.0
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    _normalize = False
    _item_mlp = False
    __init__ = make_init(hidden_dims=(128,), dropout=0.0)


class YoutubeSBC(_TwoTower):
    __doc__ = f"""Sampling-bias-corrected two-tower retrieval (Yi et al., RecSys 2019).

    DSSM-style towers with L2-normalised outputs trained with an in-batch softmax whose
    logits are corrected by the streaming estimate of each item's sampling probability:
    ``s(u, i) / temperature - log q(i)``. ``q(i) = 1 / B[i]`` where ``B[i]`` tracks the
    average number of steps between two occurrences of item ``i`` in a batch,
    ``B[i] <- (1 - freq_alpha) B[i] + freq_alpha (t - A[i])`` and ``A[i] <- t`` at step
    ``t``; the estimate is updated every batch, whatever its size (short last batches
    included). ``logq_correction=False`` turns the correction off (an ablation).

    Parameters
    ----------
    hidden_dims : tuple of int, default (128,)
    dropout : float, default 0.0
    freq_alpha : float, default 0.01
        Learning rate of the streaming frequency estimate.
    {_COMMON_DOC}
    {_ATTRS_DOC}
    """

    __init__ = make_init(hidden_dims=(128,), dropout=0.0, temperature=0.05, freq_alpha=0.01)

    def _allowed_negatives(self):
        return ("in_batch",)

    def _validate_params(self) -> None:
        super()._validate_params()
        check_float(self.freq_alpha, "freq_alpha", 0.0, strict=True)
        if self.freq_alpha > 1:
            raise ValueError(f"freq_alpha must be in (0, 1], got {self.freq_alpha}.")

    def _setup_sampling(self, counts: np.ndarray, device) -> None:
        super()._setup_sampling(counts, device)
        n_rows = max(int(counts[N_RESERVED:].sum()), 1)
        steps = max(n_rows // (self.batch_size * world()[1]), 1)  # steps of all ranks
        # before any evidence an item is assumed seen once per epoch
        self._freq_last = np.zeros(counts.size, dtype=np.float64)
        self._freq_gap = np.full(counts.size, float(steps), dtype=np.float64)
        self._freq_step = 0

    def _sampling_state(self) -> dict:
        return {
            "freq_last": torch.from_numpy(self._freq_last.copy()),
            "freq_gap": torch.from_numpy(self._freq_gap.copy()),
            "freq_step": int(self._freq_step),
        }

    def _set_sampling_state(self, state: dict) -> None:
        self._freq_last = state["freq_last"].numpy().astype(np.float64)
        self._freq_gap = state["freq_gap"].numpy().astype(np.float64)
        self._freq_step = int(state["freq_step"])

    def _log_q(self, codes: torch.Tensor) -> torch.Tensor:
        gap = torch.from_numpy(self._freq_gap).to(codes.device)
        return -torch.log(gap[codes].clamp_min(1.0)).float()

    def _batch_loss(self, module, batch, rng) -> torch.Tensor:
        self._freq_step += 1
        t = self._freq_step
        items = np.unique(gather_codes(batch["pos"]).cpu().numpy())  # all ranks' under DDP
        a = self.freq_alpha
        self._freq_gap[items] = (1 - a) * self._freq_gap[items] + a * (t - self._freq_last[items])
        self._freq_last[items] = t
        return super()._batch_loss(module, batch, rng)
