"""TorchMatcher: what every neural model shares between its parameters and its module.

A model file gives its module (``_build_module``) and, where it differs, how it trains
(``_plan``: rows or windows; ``_make_log_q``; its allowed negatives). This class turns
the shared parameters into the pieces of :mod:`skmatch.training` and runs them, embeds
users and items with the trained module, and saves, loads and pickles it.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import warnings

import numpy as np
import pandas as pd
import torch

from skmatch.features import N_RESERVED, Interactions, query_from_keys
from skmatch.index import ExactIndex
from skmatch.metrics import ndcg_at_k
from skmatch.models._merge import merge_interests
from skmatch.models._params import NEGATIVES, loss_mode, validate_common
from skmatch.models.base import BaseMatcher
from skmatch.nn import scratch
from skmatch.nn.protocol import Batch
from skmatch.nn.towers import FeatureDef
from skmatch.training import (
    Checkpoint,
    EarlyStopping,
    FitState,
    FrequencyLogQ,
    GradientClipping,
    LRSchedule,
    Objective,
    Progress,
    RowPlan,
    WindowPlan,
    epoch_ends,
    fit_loop,
    holdout_last,
    training_rows,
)
from skmatch.training import checkpoint as ckpt
from skmatch.training import distributed as ddp
from skmatch.training.incremental import grow_into

# Users are embedded in blocks of exactly this many rows (the last one padded), so that a
# user's vector never depends on how many users were asked for at once: batched
# recommend equals one-by-one recommend bit for bit.
_INFER_BATCH = 256
# batch_size="auto": batches of at most this many units, and at least MIN_STEPS of them
# per epoch (see TorchMatcher._resolve_batch_size)
AUTO_BATCH_MAX, AUTO_BATCH_MIN, MIN_STEPS = 128, 16, 50
# Validation ranks at most this many held-out users (evenly spaced among them): its cost
# stays bounded on large data, while its noise is far below the gaps it decides on. Early
# stopping holds out the last event of this many users only; the others train on all.
_MAX_VALIDATION_USERS = 5_000
# validation_interval="auto": epochs of more steps than this are validated in equal parts
# of at most this many steps, so that early stopping acts within an epoch on large data,
# while a patience of n_iter_no_change=10 validations still spans 20,000 steps or more. On
# 10^6 rows (3,900 steps an epoch) validating every 975 steps stopped YoutubeDNN at half
# the fit time but 3% below once an epoch (docs/benchmarks.md, "Early stopping inside an
# epoch"): validate often with the same patience and a noisy best stops the fit too soon.
VALIDATION_STEPS = 4_000


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # not exposed by this torch build
        return True


class TorchMatcher(BaseMatcher):
    """Base class of the twelve neural models.

    The parameters below are shared by every neural model (each model's signature gives
    its own defaults); a model's page lists its own parameters.

    Parameters
    ----------
    feature_spec : FeatureSpec, optional
        Cloned and fitted when ``fit`` receives a raw DataFrame (when None, a default
        ``FeatureSpec()``; for the multi-interest models ``FeatureSpec(max_seq_len=20)``);
        ignored for ``Interactions`` input.
    embed_dim : int
        Width of the user and item vectors.
    mode : {"listwise", "pairwise", "pointwise"}
        Softmax cross-entropy, BPR, or binary cross-entropy (which learns from labelled
        negatives too).
    negatives : {"all", "in_batch", "uniform", "popularity", "mixed", "hard"}
        The candidates each positive is scored against: the whole catalogue (a full
        softmax in listwise mode), the other positives of the batch (duplicates of the
        positive masked), ``n_negatives`` items drawn uniformly or by ``count ** 0.75``
        for the batch, in-batch and uniform together, or the ``n_negatives``
        highest-scored in-batch non-positives of each row.
    n_negatives : int
        Sampled negatives per batch (shared by its rows), or hard negatives per row.
    temperature : float
        Logits are divided by it.
    logq_correction : bool
        Subtract from each candidate's logit the log-probability of its being a
        candidate (its training frequency in-batch, the sampler's probability for
        sampled ones), so that in-batch softmax does not demote popular items (Yi et
        al. 2019).
    learning_rate, weight_decay : float
        Of Adam (fused kernels where available).
    embedding_l2 : float
        L2 penalty on the batch's user and positive item vectors.
    batch_size : int or "auto"
        Rows (or history windows) per step. ``"auto"`` (the window-trained models'
        default) is 128, or fewer on small data, so that an epoch has at least 50 steps
        (never below 16); resolved in ``fit`` into ``batch_size_``.
    n_epochs : int
        Epochs to run (at most, with early stopping).
    lr_schedule : {None, "cosine", "linear"}
        Per-step decay of the learning rate to 0 over the ``n_epochs``.
    clip_grad_norm : float, optional
        Clip the gradients' total norm to it.
    early_stopping : bool
        Hold out the last event of up to 5,000 users (evenly spaced; the others train on
        all of their events), score NDCG@``k`` on it after every epoch (and every
        ``validation_interval`` steps on large data), stop after ``n_iter_no_change``
        validations without improvement and keep the best validation's weights.
    n_iter_no_change : int
        Patience of early stopping, in validations.
    validation_interval : int or "auto"
        Training steps between two validations inside an epoch; every epoch also ends
        with one. ``"auto"``: once an epoch, or, when an epoch has more than 4,000 steps
        (large data: over a million rows at batch 256), in equal parts of at most 4,000
        steps, so that early stopping can stop and keep weights from partway through an
        epoch. An int of at least the epoch's steps: once an epoch.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where to train; ``"auto"`` is CUDA when present.
    amp : {"auto", True, False}
        bfloat16 autocast of the training steps: ``"auto"`` on CUDA only, ``True`` on the
        CPU too (worth it on CPUs with native bfloat16), ``False`` never. Inference is
        float32 either way.
    index : {"auto", "exact", "hnsw"}
        Retrieval index of :meth:`recommend` (exact below 20,000 items).
    index_params : dict, optional
        Parameters of the index (e.g. ``{"M": 32, "ef": 100}`` for HNSW).
    k : int
        Cut-off of :meth:`score`, :meth:`predict` and early stopping.
    checkpoint_dir : path, optional
        Write a checkpoint after every epoch there.
    warm_start : bool
        Resume the fit from the checkpoint in ``checkpoint_dir``.
    verbose : bool
        A progress bar per fit (loss, validation score, best epoch).
    random_state : int or numpy.random.Generator, optional
        Seeds sampling, shuffling and initialisation (the global RNGs are untouched). An
        int gives the same result at every fit on CPU; a Generator is drawn from.

    Attributes
    ----------
    feature_spec_ : FeatureSpec
    module_ : RetrievalModule
        The trained torch module (on ``device_``).
    index_ : ExactIndex or HNSWIndex
    history_ : UserHistory
        Every user's training items in time order.
    item_vectors_ : ndarray of shape (n_items_, embed_dim)
    loss_curve_ : list of float
        Mean training loss per epoch (the last one partial when early stopping ended
        it between two validations).
    validation_scores_, validation_epochs_ : list of float
        Every validation's score (with early stopping or ``validation_data``) and where
        it was taken, in epochs: ``1.0, 2.0, ...`` once an epoch; ``0.25, 0.5, ...``
        with four validations an epoch.
    n_iter_ : int
        Epochs run (begun).
    best_epoch_ : int
        The epoch during which early stopping took the weights it kept (only with
        early stopping).
    batch_size_ : int
        The batch size used (``batch_size="auto"`` resolved from the training data).
    n_users_, n_items_ : int
    """

    _allowed_negatives = NEGATIVES

    # ------------------------------------------------------------------ params
    def _validate_params(self) -> None:
        super()._validate_params()
        validate_common(self)

    # ------------------------------------------------------------------ module
    def _build_module(self):  # pragma: no cover - abstract
        """The model's :class:`~skmatch.nn.protocol.RetrievalModule`, freshly built."""
        raise NotImplementedError

    def _feature_defs(self, side: str) -> list[FeatureDef]:
        """Side features of ``side`` ("item" or "user") as the towers need them."""
        spec = self.feature_spec_
        names = spec.item_features if side == "item" else spec.user_features
        table = spec.item_table_ if side == "item" else spec.user_table_
        defs = []
        for name in names:
            kind = spec.feature_kinds_[name]
            n_values = len(spec.vocabularies_[name]) if kind != "dense" else 0
            defs.append(FeatureDef(name, kind, torch.from_numpy(table[name]), n_values))
        return defs

    @property
    def n_item_codes_(self) -> int:
        """Size of the item code space (reserved codes included)."""
        return self.n_items_ + N_RESERVED

    def _resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available here.")
        return device

    # ------------------------------------------------------------------ training rule
    def _windowed(self) -> bool:
        """Whether training runs on whole history windows, every position at once."""
        return False

    def _plan(self, inter, rows, incremental: bool = False):
        """The batch plan: rows (one example per interaction, always for ``partial_fit``
        passes) or, for window-trained models, history windows."""
        # batches of similar lengths (less padding), unless the negatives are the batch's
        # own positives: then a batch's mix of users is part of the loss
        bucket = self.negatives not in ("in_batch", "mixed", "hard")
        if not self._windowed() or incremental:
            return RowPlan(inter, rows, bucket=bucket)
        if inter.labels is not None and (inter.labels <= 0).any():
            n = int((inter.labels <= 0).sum())
            warnings.warn(
                f"{type(self).__name__} trains on history windows (train_positions='all'), "
                f"which hold the positive items only: the {n} rows with "
                f"{self.feature_spec_.label_col!r} <= 0 are not trained on. Use "
                "train_positions='last' with mode='pointwise' to train on labelled "
                "negatives.",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )
        spec = self.feature_spec_
        stride = getattr(self, "window_stride_", None)  # set by SequentialMatcher's fit
        return WindowPlan(inter, spec.max_seq_len, spec.user_table_, bucket=bucket,
                          stride=stride)  # fmt: skip

    def _make_log_q(self, counts: np.ndarray, device):
        """The log-probability of being an in-batch candidate (logQ correction)."""
        return FrequencyLogQ(counts, device)

    # ------------------------------------------------------------------ fit
    def _check_validation_data(self, validation_data) -> None:
        if validation_data is not None and not isinstance(
            validation_data, pd.DataFrame | Interactions
        ):
            raise TypeError(
                "validation_data must be a DataFrame of held-out interactions (or the "
                f"Interactions of one), got {type(validation_data).__name__}."
            )

    def _fit(self, inter, validation_data=None) -> None:
        for stale in ("n_partial_fits_", "best_epoch_"):  # set by an earlier fit only
            self.__dict__.pop(stale, None)
        self.loss_curve_, self.validation_scores_, self.validation_epochs_ = [], [], []
        val = None
        if validation_data is not None:  # the user's held-out events
            if isinstance(validation_data, Interactions) and validation_data.spec is not inter.spec:
                raise ValueError(
                    "validation_data is an Interactions object of another FeatureSpec than "
                    "the training data's: its codes mean other ids. Pass a DataFrame, or "
                    "transform it with the same fitted spec."
                )
            keys, targets, new_users = self._held_out_targets(validation_data)
            val = _subsample(inter, keys, targets, new_users)
        elif self.early_stopping:  # each user's last event, held out of training
            held = holdout_last(inter, _MAX_VALIDATION_USERS)
            if held is None:
                warnings.warn(
                    f"{type(self).__name__}: early_stopping holds out each user's last "
                    "event, but no user has 2 positive interactions; training for "
                    f"n_epochs={self.n_epochs} epochs without early stopping.",
                    UserWarning,
                    stacklevel=_user_stacklevel(),
                )
            else:
                inter = held[0]  # trained on the rest
                val = _subsample(*held, None)
        self._holdout_used = val is not None and validation_data is None  # for messages
        device = ddp.init_from_env(self._resolve_device())  # torchrun's group, if any
        fingerprint = resume = None
        if self.checkpoint_dir is not None:
            fingerprint = ckpt.fingerprint(self, inter)
            if self.warm_start:
                resume = ckpt.load_checkpoint(self.checkpoint_dir, fingerprint)
            ddp.check_same([-1 if resume is None else resume["epoch"]],
                           "the epoch of the checkpoint to resume (is checkpoint_dir on a "
                           "filesystem every node sees?)", device)  # fmt: skip
        rng = np.random.default_rng(ddp.common_seed(self.random_state, device))
        rows = training_rows(inter, pointwise=loss_mode(self.mode) == "pointwise")
        self._train_module(inter, rows, rng, device, val=val, resume=resume,
                           fingerprint=fingerprint)  # fmt: skip

    def _partial_fit(self, inter, new_rows, old_n_items) -> None:
        """One epoch over the new rows, from the fitted weights (tables grown for new ids)."""
        old_state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        self.n_partial_fits_ = getattr(self, "n_partial_fits_", 0) + 1
        self._holdout_used = False  # this pass holds nothing out
        device = ddp.init_from_env(self._resolve_device())  # torchrun's group, if any
        seed = ddp.common_seed(self.random_state, device)
        if isinstance(seed, numbers.Integral):  # a new, reproducible stream per call
            seed = [int(seed), self.n_partial_fits_]
        n_iter = self.n_iter_
        rows = training_rows(inter, new_rows, pointwise=loss_mode(self.mode) == "pointwise")
        if rows.size == 0:
            raise ValueError(self._nothing_to_train_on(inter.subset(new_rows), len(new_rows)))
        self._train_module(inter, rows, np.random.default_rng(seed), device,
                           init_state=old_state)  # fmt: skip
        self.n_iter_ = n_iter + 1

    def _check_can_continue(self) -> None:
        """Before ``partial_fit`` changes anything: the parameters must still build the
        fitted network (same weights, same shapes)."""
        grow_into(self._fresh_module(), {k: v.cpu() for k, v in self.module_.state_dict().items()})

    def _train_module(self, inter, rows, rng, device, *, val=None, resume=None,
                      fingerprint=None, init_state=None) -> None:  # fmt: skip
        """Build a seeded module (from ``init_state`` when given: a ``partial_fit`` pass of
        one epoch), train it on ``rows`` on ``device`` and keep it, with the item vectors."""
        positive = (
            np.arange(len(inter)) if inter.labels is None else np.flatnonzero(inter.labels > 0)
        )
        counts = np.bincount(inter.item_codes[positive], minlength=self.n_item_codes_)
        objective = Objective(
            mode=loss_mode(self.mode), negatives=self.negatives, n_negatives=self.n_negatives,
            temperature=self.temperature, logq_correction=self.logq_correction,
            embedding_l2=self.embedding_l2, counts=counts,
            log_q=self._make_log_q(counts, device),
        )  # fmt: skip
        incremental = init_state is not None
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), scratch.reuse():
            torch.manual_seed(int(rng.integers(2**31 - 1)))
            module = self._build_module().to(device)
            if incremental:
                grow_into(module, init_state)
            plan = self._plan(inter, rows, incremental)
            if plan.units.size == 0:
                raise ValueError(self._nothing_to_train_on(inter))
            strategy = ddp.strategy(device)
            ddp.check_same_data(inter, plan.units.size, device)
            if not incremental or getattr(self, "batch_size_", None) is None:
                self.batch_size_ = self._resolve_batch_size(plan.units.size, strategy.size)
            steps = strategy.steps_per_epoch(plan.units.size, self.batch_size_)
            state = FitState(
                module=module, optimizer=self._make_optimizer(module), rng=rng, device=device,
                strategy=strategy, n_epochs=1 if incremental else self.n_epochs,
                steps_per_epoch=steps, validation_interval=self._validation_every(steps),
                loss_curve=self.loss_curve_, validation_scores=self.validation_scores_,
                validation_epochs=self.validation_epochs_,
                name=type(self).__name__, hint=self._divergence_hint(),
            )  # fmt: skip
            callbacks = self._callbacks(state, val, objective, resume, fingerprint)
            fit_loop(state, plan, objective, batch_size=self.batch_size_,
                     amp=self._autocast(device), callbacks=callbacks)  # fmt: skip
        if not incremental:
            self.n_iter_ = self.n_epochs_ = state.epoch
        if state.best_epoch is not None:
            self.best_epoch_ = state.best_epoch
        module.eval()
        self.module_, self.device_ = module, device
        self.item_vectors_ = self._compute_item_vectors(module, device)

    def _resolve_batch_size(self, n_units: int, world_size: int = 1) -> int:
        """``batch_size`` as an int: ``"auto"`` resolved from the units of an epoch.

        ``"auto"`` is ``AUTO_BATCH_MAX`` (128), lowered on small data so that every
        process makes at least ``MIN_STEPS`` (50) steps per epoch, and never below
        ``AUTO_BATCH_MIN`` (16). Early stopping's patience and the validation are counted
        in epochs: on a dataset of few users (ML-100K: 2,400 history windows, 19 steps
        of 128) an epoch of a handful of steps makes the fit mostly validation and its
        patience a few dozen updates.
        """
        if self.batch_size != "auto":
            return int(self.batch_size)
        per_rank = -(-n_units // world_size)
        return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, -(-per_rank // MIN_STEPS))))

    def _validation_every(self, steps_per_epoch: int) -> int:
        """``validation_interval`` as a number of steps (see the class docstring)."""
        every = self.validation_interval
        if every != "auto":
            return int(every)
        parts = -(-steps_per_epoch // VALIDATION_STEPS)
        return -(-steps_per_epoch // parts)

    def _callbacks(self, state, val, objective, resume, fingerprint) -> list:
        """The fit's callbacks from the parameters, in the order they run."""
        callbacks = []
        if self.clip_grad_norm is not None:
            callbacks.append(GradientClipping(self.clip_grad_norm))
        if self.lr_schedule is not None:
            total = state.steps_per_epoch * state.n_epochs
            callbacks.append(LRSchedule(state.optimizer, self.lr_schedule, total))
        if val is not None:  # early stopping, or the scores of validation_data only
            callbacks.append(EarlyStopping(
                lambda module: self._validation_score(module, *val, state.device),
                self.n_iter_no_change if self.early_stopping else None,
            ))  # fmt: skip
        if self.verbose:
            callbacks.append(Progress(type(self).__name__, f"ndcg@{self.k}"))
        if fingerprint is not None:
            components = list(callbacks)
            callbacks.append(
                Checkpoint(self.checkpoint_dir, fingerprint, resume, components, objective.log_q)
            )
        return callbacks

    def _make_optimizer(self, module):
        params = [p for p in module.parameters() if p.requires_grad]
        kwargs = dict(lr=self.learning_rate, weight_decay=self.weight_decay)
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # fused kernels missing for this device/version
            return torch.optim.Adam(params, **kwargs)

    def _divergence_hint(self) -> str:
        return (
            f"Lower learning_rate (now {self.learning_rate}), raise temperature (now "
            f"{self.temperature}) or set clip_grad_norm."
        )

    def _autocast(self, device: torch.device):
        """bfloat16 autocast of the training steps (``amp``), or a no-op."""
        on = device.type == "cuda" if self.amp == "auto" else self.amp
        if not on:
            return contextlib.nullcontext()
        if device.type == "cpu" and not _cpu_has_bf16():
            warnings.warn(
                "amp=True on a CPU without native bfloat16 (AVX512-BF16 or AMX): the "
                "conversions make training slower, not faster. Use amp='auto'.",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def _validation_score(self, module, inter, keys, targets, new_users, device) -> float:
        """NDCG@``k`` of the held-out events, each user (a key, see
        :func:`~skmatch.features.query_from_keys`) embedded from its training history
        (whose items are excluded), over the whole catalogue."""
        module.eval()
        query = query_from_keys(self.feature_spec_, inter.history, keys, new_users)
        items = self._compute_item_vectors(module, device)
        vectors = self._compute_user_vectors(module, query, device)
        seen = query.seen()[:, N_RESERVED:]
        index = ExactIndex().fit(items)
        if vectors.ndim == 3:
            n, m = vectors.shape[:2]
            pos, scores = index.search(
                vectors.reshape(n * m, -1), self.k, exclude=seen[np.repeat(np.arange(n), m)]
            )
            pos, _ = merge_interests(pos.reshape(n, -1), scores.reshape(n, -1), self.k)
        else:
            pos, _ = index.search(vectors, self.k, exclude=seen)
        return float(ndcg_at_k(targets, pos, self.k))

    def _nothing_to_train_on(self, inter, n_rows: int | None = None) -> str:
        """Why a fit found no training example, with the counts (``n_rows``: the rows
        it could have trained on, all of ``inter`` when None)."""
        name = type(self).__name__
        n_rows = len(inter) if n_rows is None else n_rows
        head = f"{name} found nothing to train on"
        if n_rows == 0:
            return f"{head}: the interactions have no rows."
        if inter.labels is not None and not (inter.labels > 0).any():
            label = self.feature_spec_.label_col
            if self._windowed():
                why = "history windows (train_positions='all') hold positives only; use "
                why += "train_positions='last' with mode='pointwise'"
            else:
                why = f"in mode={self.mode!r} only positives are trained on; use "
                why += "mode='pointwise'"
            return (
                f"{head}: none of the {n_rows} rows has a positive {label!r} (> 0), and "
                f"{why} to learn from labelled negatives too."
            )
        n = np.diff(inter.history.indptr)
        held = " after early_stopping=True held out each user's last one"
        held = held if getattr(self, "_holdout_used", False) else ""
        return (
            f"{head}: it learns to predict each user's next item, so a user needs at least "
            f"2 interactions, and none of the {int((n > 0).sum())} users has more than "
            f"{int(n.max(initial=0))}{held}. Fit on longer histories."
        )

    # ------------------------------------------------------------------ inference
    def _query_batch(self, query, rows: np.ndarray, device) -> Batch:
        """The user side of a query's ``rows`` as a batch."""
        hist = query.history.last(rows, self.feature_spec_.max_seq_len)
        feats = {name: torch.from_numpy(values[rows]) for name, values in query.features.items()}
        return Batch(hist=torch.from_numpy(hist), user_features=feats).to(device)

    @torch.no_grad()
    def _compute_item_vectors(self, module, device) -> np.ndarray:
        module.eval()
        codes = torch.arange(N_RESERVED, self.n_item_codes_, device=device)
        out = [module.item_forward(c).float().cpu() for c in codes.split(_INFER_BATCH * 8)]
        return torch.cat(out).numpy().astype(np.float32)

    @torch.no_grad()
    def _compute_user_vectors(self, module, query, device) -> np.ndarray:
        module.eval()
        out = []
        for start in range(0, len(query), _INFER_BATCH):
            rows = np.arange(start, start + _INFER_BATCH)
            n_real = min(_INFER_BATCH, len(query) - start)
            rows[n_real:] = start  # pad with a real row: fixed block shape
            vectors = module.user_forward(self._query_batch(query, rows, device))
            out.append(vectors[:n_real].float().cpu())
        return torch.cat(out).numpy().astype(np.float32)

    def _items_spec(self, items):
        if not self.feature_spec_.item_features:
            raise ValueError(
                f"{type(self).__name__} embeds items unseen in fit from their side "
                "features, and the FeatureSpec has none (item_features=()): every new item "
                "would get the same vector. Fit with item_features, or refit with the new "
                "items' interactions."
            )
        return super()._items_spec(items)

    def _grown(self, spec):
        """The fitted module rebuilt for ``spec`` (grown by new items; the fitted weights,
        zero id rows for the new items) on the CPU, and every item's vector: the fitted
        ones kept, the new ones computed."""
        saved = self.feature_spec_, self.n_items_
        self.feature_spec_, self.n_items_ = spec, spec.n_items_  # what _build_module reads
        try:
            module = self._fresh_module()
        finally:
            self.feature_spec_, self.n_items_ = saved
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        grow_into(module, state, zero_new_rows=True)
        module.eval()
        with torch.no_grad():
            new = torch.arange(self.n_item_codes_, spec.n_items_ + N_RESERVED)
            out = [module.item_forward(c).float() for c in new.split(_INFER_BATCH * 8)]
        added = torch.cat(out).numpy() if out else np.zeros((0, self.item_vectors_.shape[1]))
        return module, np.concatenate([self.item_vectors_, added.astype(np.float32)])

    def _grown_item_vectors(self, spec) -> np.ndarray:
        return self._grown(spec)[1]

    def _add_items(self, spec) -> None:
        module, self.item_vectors_ = self._grown(spec)
        self.module_ = module.to(self.device_)

    def _user_vectors(self, query) -> np.ndarray:
        return self._compute_user_vectors(self.module_, query, self.device_)

    def _item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    # ------------------------------------------------------------------ persistence
    _FITTED_LISTS = ("loss_curve_", "validation_scores_", "validation_epochs_")
    # fitted numbers kept by save/load when the fit set them (files without them load)
    _FITTED_NUMBERS = ("n_epochs_", "best_epoch_", "n_partial_fits_", "dropout_", "batch_size_",
                       "window_stride_", "filter_mix_")  # fmt: skip

    def _state(self):
        meta = {name: list(map(float, getattr(self, name))) for name in self._FITTED_LISTS}
        meta["n_iter_"] = self.n_iter_
        meta.update({k: getattr(self, k) for k in self._FITTED_NUMBERS if hasattr(self, k)})
        arrays = {"item_vectors": self.item_vectors_}
        return meta, arrays, self.module_.state_dict()

    def _restore(self, meta, arrays, module_state) -> None:
        for name in self._FITTED_LISTS:
            setattr(self, name, meta.get(name))
        if self.validation_epochs_ is None:  # files saved before it: once an epoch
            self.validation_epochs_ = epoch_ends(len(self.validation_scores_))
        self.n_iter_ = meta["n_iter_"]
        for name in self._FITTED_NUMBERS:
            if name in meta:
                setattr(self, name, meta[name])
        self.item_vectors_ = arrays["item_vectors"]
        self.module_ = self._module_from_state(module_state)
        self.device_ = torch.device("cpu")

    def _fresh_module(self):
        """``_build_module()`` under a forked torch RNG (the caller's stream untouched)."""
        with torch.random.fork_rng(devices=[]):
            return self._build_module()

    def _module_from_state(self, module_state):
        """A fresh module on the CPU holding ``module_state``, in evaluation mode."""
        module = self._fresh_module()
        module.load_state_dict(module_state)
        return module.eval()

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "module_" in state:  # weights only, on the CPU: a CUDA fit unpickles anywhere
            module = state.pop("module_")
            state["_module_state"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
            state["device_"] = torch.device("cpu")
        return state

    def __setstate__(self, state):
        module_state = state.pop("_module_state", None)
        # parameters added after the file was pickled take their defaults (get_params,
        # clone and refits work on old files)
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not param.empty and name not in state:
                state[name] = param.default
        if "validation_scores_" in state and "validation_epochs_" not in state:
            state["validation_epochs_"] = epoch_ends(len(state["validation_scores_"]))
        self.__dict__.update(state)
        if module_state is not None:
            self.module_ = self._module_from_state(module_state)


def _subsample(inter, keys, targets, new_users):
    """The validation set: at most ``_MAX_VALIDATION_USERS`` held-out users, evenly
    spaced (no random draw: the fit's random stream is untouched)."""
    keys = np.asarray(keys)
    if keys.size > _MAX_VALIDATION_USERS:
        pick = np.unique(np.linspace(0, keys.size - 1, _MAX_VALIDATION_USERS).astype(np.int64))
        keys = keys[pick]  # targets: one per user (an array) or a list of arrays
        targets = targets[pick] if isinstance(targets, np.ndarray) else [targets[i] for i in pick]
    return inter, keys, targets, new_users


def _user_stacklevel() -> int:
    """The ``stacklevel`` of a warning that names the first frame outside skmatch (the
    caller's ``fit``), however deep inside the package it is raised."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("skmatch."):
        frame, level = frame.f_back, level + 1
    return level
