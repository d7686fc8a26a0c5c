"""TorchMatcher: the one training loop and inference path of every neural model."""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from skmatch.features._history import UserHistory, gather_windows
from skmatch.features._vocab import N_RESERVED, OOV
from skmatch.index import ExactIndex
from skmatch.metrics import ndcg_at_k
from skmatch.model_selection._split import last_n_mask
from skmatch.models import _checkpoint as ckpt
from skmatch.models import _distributed as ddp
from skmatch.models._incremental import grow_into
from skmatch.models._params import NEGATIVES, validate_common
from skmatch.models._query import query_from_codes
from skmatch.models.base import BaseMatcher
from skmatch.nn import scratch
from skmatch.nn.losses import LOSSES, _weighted_mean
from skmatch.nn.sampling import NegativeSampler
from skmatch.nn.softmax import _autocast_dtype, softmax_loss
from skmatch.nn.towers import FeatureDef

# Users are embedded in blocks of exactly this many rows (the last one padded), so that a
# user's vector never depends on how many users were asked for at once: batched
# recommend equals one-by-one recommend bit for bit.
_INFER_BATCH = 256

# Parameters every neural model takes, with their defaults (keyword-only).
COMMON_DEFAULTS = dict(
    feature_spec=None,
    embed_dim=64,
    mode="listwise",
    negatives="in_batch",
    n_negatives=100,
    temperature=1.0,
    logq_correction=True,
    learning_rate=1e-3,
    weight_decay=0.0,
    embedding_l2=0.0,
    batch_size=256,
    n_epochs=10,
    lr_schedule=None,
    clip_grad_norm=None,
    early_stopping=False,
    n_iter_no_change=3,
    device="auto",
    amp="auto",
    index="auto",
    index_params=None,
    k=10,
    checkpoint_dir=None,
    warm_start=False,
    verbose=False,
    random_state=None,
)


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # not exposed by this torch build
        return True


def _cpu_autocast(x: torch.Tensor) -> bool:
    """Whether ``x`` lives on the CPU inside a CPU autocast region."""
    return x.device.type == "cpu" and _autocast_dtype("cpu") is not None


def _pad_rows(user: torch.Tensor, target: torch.Tensor, weight=None, multiple: int = 128):
    """Zero rows appended to ``user``, ignored targets (-100) to ``target`` and zero
    weights to ``weight`` (when given), up to a multiple of ``multiple`` rows. Windowed
    models score a different number of positions every step; oneDNN builds (and caches,
    up to 1,024) a bfloat16 kernel per shape, which cost time and hundreds of MiB over a
    long fit. The mean loss is unchanged."""
    extra = -user.shape[0] % multiple
    if extra == 0:
        return user, target, weight
    user = F.pad(user, (0, 0, 0, extra))
    if weight is not None:
        weight = F.pad(weight, (0, extra))
    return user, F.pad(target, (0, extra), value=-100), weight


class TorchMatcher(BaseMatcher):
    """Base class of the neural models: training loop, inference, pickling.

    Subclasses store their constructor arguments and implement ``_build_module()``,
    returning a ``torch.nn.Module`` with ``user_forward(batch) -> [B, D]`` (or
    ``[B, M, D]`` for multi-interest models) and ``item_forward(codes) -> [N, D]``.

    Training (``fit``): the positive rows of the interactions are shuffled with a
    seeded ``numpy.random.Generator`` and cut into batches gathered by index (each row's
    history is its user's previous items); negatives are the other positives of the
    batch (``"in_batch"``, duplicates of the positive masked), items drawn uniformly or
    by ``count ** 0.75`` (``"uniform"``, ``"popularity"``, shared by the batch and masked
    where they equal a row's positive), both (``"mixed"``), or the highest-scored
    in-batch non-positives (``"hard"``). Logits are divided by ``temperature``,
    optionally logQ-corrected, and fed to the ``mode``'s loss. Torch's global RNG is
    left untouched (``torch.random.fork_rng``); on CPU a fixed ``random_state`` gives
    identical results.
    """

    _default_negatives_allowed = NEGATIVES

    # ------------------------------------------------------------------ params
    def _allowed_negatives(self):
        return self._default_negatives_allowed

    def _validate_params(self) -> None:
        super()._validate_params()
        validate_common(self)

    # ------------------------------------------------------------------ module
    def _build_module(self) -> torch.nn.Module:  # pragma: no cover - abstract
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

    # ------------------------------------------------------------------ batches
    def _rows_batch(self, inter, rows: np.ndarray, device) -> dict:
        batch = {
            "hist": torch.from_numpy(inter.histories(rows)),
            "pos": torch.from_numpy(inter.item_codes[rows]),
        }
        for name, values in inter.user_features.items():
            batch[f"user:{name}"] = torch.from_numpy(values[rows])
        if inter.weights is not None:
            batch["weight"] = torch.from_numpy(inter.weights[rows].astype(np.float32))
        if inter.labels is not None:
            batch["label"] = torch.from_numpy(inter.labels[rows].astype(np.float32))
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def _query_batch(self, query, rows: np.ndarray, device) -> dict:
        batch = {"hist": torch.from_numpy(query.history.last(rows, self.feature_spec_.max_seq_len))}
        for name, values in query.features.items():
            batch[f"user:{name}"] = torch.from_numpy(values[rows])
        return {k: v.to(device) for k, v in batch.items()}

    # ------------------------------------------------------------------ training
    def _windowed(self) -> bool:
        """Whether training runs on whole history windows, every position at once."""
        return False

    def _training_plan(self, inter, rows, incremental: bool = False):
        """Units to shuffle and the function that turns a slice of them into a batch
        (rows, one example per interaction, for ``incremental`` passes)."""
        if not self._windowed() or incremental:
            return rows, lambda units, device: self._rows_batch(inter, units, device)
        self._warn_window_ignores(inter)
        user, end = _windows(inter.history, self.feature_spec_.max_seq_len)
        return np.arange(user.size), lambda units, device: self._windows_batch(
            inter, user[units], end[units], device
        )

    def _warn_window_ignores(self, inter) -> None:
        """History windows hold the positive items only: say that labelled negatives are
        not trained on (each position's ``weight`` is used)."""
        if inter.labels is not None and (inter.labels <= 0).any():
            n = int((inter.labels <= 0).sum())
            warnings.warn(
                f"{type(self).__name__} trains on history windows (train_positions='all'), "
                f"which hold the positive items only: the {n} rows with "
                f"{self.feature_spec_.label_col!r} <= 0 are not trained on. Use "
                "train_positions='last' with mode='pointwise' to train on labelled "
                "negatives.",
                UserWarning,
                stacklevel=7,
            )

    def _windows_batch(self, inter, users, ends, device) -> dict:
        """Inputs ``[W, L]`` and next-item targets ``[W, L]`` (0 where none), left-padded,
        with the targets' weights ``[W, L]`` when the interactions are weighted."""
        hist, length = inter.history, self.feature_spec_.max_seq_len
        start = hist.indptr[users]
        batch = {
            "hist": torch.from_numpy(gather_windows(hist.items, start, ends - 1, length)),
            "targets": torch.from_numpy(gather_windows(hist.items, start + 1, ends, length)),
        }
        if inter.history_weights is not None:
            weights = gather_windows(inter.history_weights, start + 1, ends, length, np.float32)
            batch["target_weights"] = torch.from_numpy(weights)
        for name, table in self.feature_spec_.user_table_.items():
            batch[f"user:{name}"] = torch.from_numpy(table[users])
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def _training_rows(self, inter, rows=None) -> np.ndarray:
        """The rows to train on (of ``rows``, all when None): positives unless pointwise."""
        rows = np.arange(len(inter)) if rows is None else rows
        if inter.labels is None or self.mode == "pointwise":
            return rows
        return rows[inter.labels[rows] > 0]

    def _fit(self, inter) -> None:
        for stale in ("n_partial_fits_", "best_epoch_"):  # set by an earlier fit only
            self.__dict__.pop(stale, None)
        self.loss_curve_ = []
        self.validation_scores_ = []
        val = None
        if self.early_stopping:
            inter, val = self._split_validation(inter)
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
        self._train_module(inter, self._training_rows(inter), rng, device, val=val,
                           resume=resume, fingerprint=fingerprint)  # fmt: skip

    def _partial_fit(self, inter, new_rows, old_n_items) -> None:
        """One epoch over the new rows, from the fitted weights (tables grown for new ids)."""
        old_state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        self.n_partial_fits_ = getattr(self, "n_partial_fits_", 0) + 1
        device = ddp.init_from_env(self._resolve_device())  # torchrun's group, if any
        seed = ddp.common_seed(self.random_state, device)
        if isinstance(seed, numbers.Integral):  # a new, reproducible stream per call
            seed = [int(seed), self.n_partial_fits_]
        n_iter = self.n_iter_
        rows = self._training_rows(inter, new_rows)
        if rows.size == 0:
            raise ValueError(self._nothing_to_train_on(inter.subset(new_rows), len(new_rows)))
        self._train_module(inter, rows, np.random.default_rng(seed), device,
                           init_state=old_state)  # fmt: skip
        self.n_iter_ = n_iter + 1

    def _check_can_continue(self) -> None:
        """Before ``partial_fit`` changes anything: the parameters must still build the
        fitted network (same weights, same shapes)."""
        with torch.random.fork_rng(devices=[]):
            module = self._build_module()
        grow_into(module, {k: v.cpu() for k, v in self.module_.state_dict().items()})

    def _train_module(self, inter, rows, rng, device, *, val=None, resume=None,
                      fingerprint=None, init_state=None) -> None:  # fmt: skip
        """Build a seeded module (from ``init_state`` when given: a ``partial_fit`` pass of
        one epoch), train it on ``rows`` on ``device`` and keep it, with the item vectors."""
        positive = (
            np.arange(len(inter)) if inter.labels is None else np.flatnonzero(inter.labels > 0)
        )
        counts = np.bincount(inter.item_codes[positive], minlength=self.n_item_codes_)
        self._setup_sampling(counts, device)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), scratch.reuse():
            torch.manual_seed(int(rng.integers(2**31 - 1)))
            module = self._build_module().to(device)
            if init_state is not None:
                grow_into(module, init_state)
            self._train(module, inter, rows, val, rng, device, resume=resume,
                        fingerprint=fingerprint, incremental=init_state is not None)  # fmt: skip
        del self._sampler, self._item_log_freq  # training-only state (may live on the GPU)
        module.eval()
        self.module_, self.device_ = module, device
        self.item_vectors_ = self._compute_item_vectors(module, device)

    def _split_validation(self, inter):
        """Hold out every user's last positive event (users with >= 2 of them; not the
        users outside the vocabulary, below ``min_count``: they share one code and have
        no history, so their rows all stay in training)."""
        positive = np.ones(len(inter), bool) if inter.labels is None else inter.labels > 0
        rows = np.flatnonzero(positive & (inter.user_codes != OOV))
        last = last_n_mask(inter.user_codes[rows], inter.times[rows], 1)
        n_pos = np.bincount(inter.user_codes[rows], minlength=inter.history.n_users)
        held = rows[last & (n_pos[inter.user_codes[rows]] >= 2)]
        if held.size == 0:
            raise ValueError(
                "early_stopping needs users with at least 2 interactions to hold out their "
                "last one; none has. Set early_stopping=False."
            )
        keep = np.ones(len(inter), dtype=bool)
        keep[held] = False
        train = inter.subset(np.flatnonzero(keep))
        val_users = inter.user_codes[held]
        targets = [np.array([c - N_RESERVED]) for c in inter.item_codes[held]]
        return train, (val_users, targets)

    def _setup_sampling(self, counts: np.ndarray, device) -> None:
        total = counts[N_RESERVED:].sum()
        freq = (counts + 1.0) / (total + counts.size)
        self._item_log_freq = torch.from_numpy(np.log(freq).astype(np.float32)).to(device)
        kind = {"uniform": "uniform", "mixed": "uniform", "popularity": "popularity"}.get(
            self.negatives
        )
        self._sampler = NegativeSampler(counts, kind) if kind else None

    def _make_optimizer(self, module):
        params = [p for p in module.parameters() if p.requires_grad]
        kwargs = dict(lr=self.learning_rate, weight_decay=self.weight_decay)
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # fused kernels missing for this device/version
            return torch.optim.Adam(params, **kwargs)

    def _make_scheduler(self, optimizer, total_steps: int):
        if self.lr_schedule is None:
            return None
        if self.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(total_steps, 1))
        return torch.optim.lr_scheduler.LinearLR(
            optimizer, 1.0, 0.0, total_iters=max(total_steps, 1)
        )

    def _train(self, module, inter, rows, val, rng, device, *, resume=None, fingerprint=None,
               incremental=False) -> None:  # fmt: skip
        units, make_batch = self._training_plan(inter, rows, incremental)
        if units.size == 0:
            raise ValueError(self._nothing_to_train_on(inter))
        rank, size = ddp.world()
        ddp.check_same_data(inter, units.size, device)
        step = ddp.wrap(module, self._batch_loss, device)  # DDP under torchrun
        n_epochs = 1 if incremental else self.n_epochs  # partial_fit: one pass
        optimizer = self._make_optimizer(module)
        steps_per_epoch = math.ceil(ddp.shard_size(units.size, size) / self.batch_size)
        scheduler = self._make_scheduler(optimizer, steps_per_epoch * n_epochs)
        amp = self._autocast(device)
        best, best_state, stale, stopped = -np.inf, None, 0, False
        self.n_iter_ = 0
        if resume is not None:  # continue an interrupted fit where its checkpoint left it
            best, best_state, stale, stopped = self._restore_checkpoint(
                resume, module, optimizer, scheduler, rng, device
            )
        for epoch in range(0 if resume is None else resume["epoch"], n_epochs):
            if stopped:
                break
            module.train()
            order, batch_rng = rng.permutation(units), rng
            if size > 1:  # this rank's shard; its own negatives and dropout, reproducibly
                seed = ddp.state_seed(rng)  # leaves rng as a single process would
                order = ddp.shard(order, rank, size)
                batch_rng = np.random.default_rng([seed, rank])
                torch.manual_seed(seed * size + rank)
            total = torch.zeros((), device=device)
            for start in self._progress(range(0, order.size, self.batch_size), epoch):
                batch = make_batch(order[start : start + self.batch_size], device)
                with amp:
                    loss = step(batch, batch_rng)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), self.clip_grad_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += loss.detach()
            epoch_loss = float(ddp.mean_over_ranks(total)) / steps_per_epoch
            if not np.isfinite(epoch_loss):
                raise FloatingPointError(
                    f"{type(self).__name__}: the training loss became {epoch_loss} at epoch "
                    f"{epoch + 1}. Lower learning_rate (now {self.learning_rate}), raise "
                    f"temperature (now {self.temperature}) or set clip_grad_norm."
                )
            self.loss_curve_.append(epoch_loss)
            self.n_iter_ = epoch + 1
            if val is not None:
                score = ddp.from_main(self._validation_score(module, inter, val, device), device)
                self.validation_scores_.append(score)
                if score > best:
                    best, stale = score, 0
                    best_state = copy.deepcopy(module.state_dict())
                    self.best_epoch_ = epoch + 1
                else:
                    stale += 1
                    stopped = stale >= self.n_iter_no_change
            if self.verbose and rank == 0:
                extra = f", val ndcg@{self.k} {self.validation_scores_[-1]:.4f}" if val else ""
                print(f"epoch {epoch + 1}: loss {epoch_loss:.4f}{extra}", flush=True)
            if fingerprint is not None:  # written by rank 0; no rank runs ahead of it
                if rank == 0:
                    stopping = (best, best_state, stale, stopped)
                    self._write_checkpoint(
                        fingerprint, epoch + 1, module, optimizer, scheduler, rng, stopping
                    )
                ddp.barrier()
        if best_state is not None:
            module.load_state_dict(best_state)

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
        held = held if self.early_stopping else ""
        return (
            f"{head}: it learns to predict each user's next item, so a user needs at least "
            f"2 interactions, and none of the {int((n > 0).sum())} users has more than "
            f"{int(n.max(initial=0))}{held}. Fit on longer histories."
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
                stacklevel=4,
            )
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def _write_checkpoint(self, fingerprint, epoch, module, optimizer, scheduler, rng,
                          stopping) -> None:  # fmt: skip
        best, best_state, stale, stopped = stopping
        cpu = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        state = {
            "fingerprint": fingerprint,
            "epoch": epoch,
            "module": cpu,
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "numpy_rng": ckpt.rng_state(rng),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if cpu_or_cuda(module) == "cuda" else None,
            "loss_curve": list(self.loss_curve_),
            "validation_scores": list(self.validation_scores_),
            "best": float(best),
            "best_epoch": getattr(self, "best_epoch_", None),
            "best_state": None
            if best_state is None
            else {k: v.detach().cpu() for k, v in best_state.items()},
            "stale": stale,
            "stopped": stopped,
            "sampling": self._sampling_state(),
        }
        ckpt.save_checkpoint(self.checkpoint_dir, state)

    def _sampling_state(self) -> dict:
        """Training-time sampling state a resumed fit needs (tensors and numbers; e.g.
        YoutubeSBC's streaming frequency estimate); none by default."""
        return {}

    def _set_sampling_state(self, state: dict) -> None:
        """Restore what :meth:`_sampling_state` returned."""

    def _restore_checkpoint(self, state, module, optimizer, scheduler, rng, device):
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(rng, state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        if state.get("sampling"):  # absent in checkpoints written before it was kept
            self._set_sampling_state(state["sampling"])
        self.loss_curve_ = list(state["loss_curve"])
        self.validation_scores_ = list(state["validation_scores"])
        self.n_iter_ = state["epoch"]
        if state["best_epoch"] is not None:
            self.best_epoch_ = state["best_epoch"]
        best_state = state["best_state"]
        if best_state is not None:
            best_state = {k: v.to(device) for k, v in best_state.items()}
        return state["best"], best_state, state["stale"], state["stopped"]

    def _progress(self, iterable, epoch: int):
        if not self.verbose or not ddp.is_main_process():
            return iterable
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return iterable
        return tqdm(iterable, desc=f"epoch {epoch + 1}/{self.n_epochs}", leave=False)

    def _validation_score(self, module, inter, val, device) -> float:
        module.eval()
        users, targets = val
        query = query_from_codes(self.feature_spec_, inter.history, users)
        items = self._compute_item_vectors(module, device)
        vectors = self._compute_user_vectors(module, query, device)
        seen = query.seen()[:, N_RESERVED:]
        index = ExactIndex().fit(items)
        if vectors.ndim == 3:
            from skmatch.models._merge import merge_interests

            n, m = vectors.shape[:2]
            pos, scores = index.search(
                vectors.reshape(n * m, -1), self.k, exclude=seen[np.repeat(np.arange(n), m)]
            )
            pos, _ = merge_interests(pos.reshape(n, -1), scores.reshape(n, -1), self.k)
        else:
            pos, _ = index.search(vectors, self.k, exclude=seen)
        return float(ndcg_at_k(targets, pos, self.k))

    # ------------------------------------------------------------------ the loss
    def _candidate_logits(self, module, pos, user, pos_vec, rng):
        """Negatives of every row: logits ``[B, N]``, validity mask, log-probabilities.

        The log-probability of a candidate is that of being drawn as a negative: its
        training frequency for in-batch candidates, the sampler's for sampled ones.
        """
        parts = []
        if self.negatives == "all":  # full softmax over the catalogue
            codes = torch.arange(N_RESERVED, self.n_item_codes_, device=pos.device)
            parts.append(
                (codes, module.item_forward(codes), torch.zeros(codes.shape, device=pos.device))
            )
        if self.negatives in ("in_batch", "mixed", "hard"):  # of every rank under DDP
            codes, vecs = ddp.gather_candidates(pos, pos_vec)
            parts.append((codes, vecs, self._log_q(codes)))
        if self.negatives in ("uniform", "popularity", "mixed"):
            codes = self._sampler._draw(rng, self.n_negatives)
            log_q = torch.from_numpy(self._sampler.log_q(codes).astype(np.float32))
            codes_t = torch.from_numpy(codes).to(pos.device)
            parts.append((codes_t, module.item_forward(codes_t), log_q.to(pos.device)))
        codes = torch.cat([c for c, _, _ in parts])
        vecs = torch.cat([v for _, v, _ in parts])
        log_q = torch.cat([q for _, _, q in parts])
        logits = self._score(user, vecs)  # [B, N]
        valid = codes.unsqueeze(0) != pos.unsqueeze(1)
        log_q = log_q.unsqueeze(0).expand_as(logits)
        if self.negatives == "hard":
            n = min(self.n_negatives, logits.shape[1])
            masked = logits.detach().masked_fill(~valid, float("-inf"))
            top = masked.topk(n, dim=1).indices
            logits, valid, log_q = logits.gather(1, top), valid.gather(1, top), log_q.gather(1, top)
        return logits, valid, log_q

    def _score(self, user, items) -> torch.Tensor:
        """Score every user against every item: ``[B, D] x [N, D] -> [B, N]``."""
        return user @ items.T

    def _pos_log_q(self, codes: torch.Tensor) -> torch.Tensor:
        """Correction of the positive: as an in-batch candidate, else as a sampled one."""
        if self.negatives in ("uniform", "popularity"):
            q = self._sampler.log_q(codes.cpu().numpy()).astype(np.float32)
            return torch.from_numpy(q).to(codes.device)
        return self._log_q(codes)

    def _log_q(self, codes: torch.Tensor) -> torch.Tensor:
        """Log-frequency of items, used by ``logq_correction``."""
        return self._item_log_freq[codes]

    def _batch_loss(self, module, batch, rng) -> torch.Tensor:
        batch = _trim_padding(batch)
        if "targets" in batch:  # a window: every position predicts the next item
            valid = batch["targets"] > 0  # [W, L]
            states = module.sequence_forward(batch, valid)  # [P, D], P = valid positions
            rows = {}
            if "target_weights" in batch:  # each position weighs as its target's row
                rows["weight"] = batch["target_weights"][valid]  # [P]
            loss = self._loss(module, states, batch["targets"][valid], rows, rng)
            if ddp.world()[1] > 1:  # ranks hold different numbers of positions (weight)
                share = rows["weight"].sum() if rows else valid.sum()
                loss = loss * ddp.share_of_rows(float(share), loss.device)
            return loss
        user = module.user_forward(batch)  # [B, D] or [B, M, D]
        return self._weight_share(self._loss(module, user, batch["pos"], batch, rng), batch)

    def _weight_share(self, loss, batch):
        """Under DDP with weighted rows: this rank's part of the weighted mean over every
        rank's rows (unweighted, the ranks' batches are the same size)."""
        if "weight" not in batch or ddp.world()[1] == 1:
            return loss
        return loss * ddp.share_of_rows(float(batch["weight"].sum()), loss.device)

    def _loss(self, module, user, pos, batch, rng, pos_vec=None) -> torch.Tensor:
        """Loss of user vectors ``[B, D]`` against positives ``pos`` (their item vectors
        ``pos_vec`` when the caller already has them) and the negatives."""
        if pos_vec is None:
            pos_vec = module.item_forward(pos)  # [B, D]
        weight = batch.get("weight")
        if self.negatives == "all" and self.mode == "listwise":
            # full softmax over the catalogue: plain (weighted) cross-entropy
            if hasattr(module, "all_items"):  # a plain item table: a view, no gather
                items = module.all_items(N_RESERVED)
            else:
                items = module.item_forward(
                    torch.arange(N_RESERVED, self.n_item_codes_, device=pos.device)
                )
            l2 = self._l2(user, pos_vec)  # of the real rows, before any padding
            target = pos - N_RESERVED
            if _cpu_autocast(user):  # few distinct shapes: see _pad_rows
                user, target, weight = _pad_rows(user, target, weight)
            # cross_entropy(user @ items.T / temperature) without [P, n_items] in memory
            return softmax_loss(user, items, target, self.temperature, weight) + l2
        if (
            self.negatives == "in_batch"
            and self.mode == "listwise"
            and "label" not in batch
            and ddp.world()[1] == 1
        ):
            return self._in_batch_softmax(user, pos, pos_vec, weight) + self._l2(user, pos_vec)
        pos_logit = (user * pos_vec).sum(-1) / self.temperature
        if self.mode == "pointwise" and "label" in batch:
            loss = LOSSES["pointwise"](
                pos_logit, pos_logit.unsqueeze(1)[:, :0], None, weight, labels=batch["label"]
            )
        else:
            neg_logit, valid, log_q = self._candidate_logits(module, pos, user, pos_vec, rng)
            neg_logit = neg_logit / self.temperature
            if self.logq_correction and self.negatives != "all":
                pos_logit = pos_logit - self._pos_log_q(pos)
                neg_logit = neg_logit - log_q
            loss = LOSSES[self.mode](pos_logit, neg_logit, valid, weight)
        return loss + self._l2(user, pos_vec)

    def _in_batch_softmax(self, user, pos, pos_vec, weight) -> torch.Tensor:
        """In-batch listwise loss as one ``[B, B]`` cross-entropy whose targets are the
        diagonal: the same loss as the general path (the row's positive against the
        other rows' positives, logQ-corrected, duplicates of the positive masked) in
        a third of the operations, which is most of a small model's step."""
        logits = self._score(user, pos_vec)  # [B, B], row i's positive on the diagonal
        if self.temperature != 1.0:
            logits = logits / self.temperature
        if self.logq_correction:
            logits = logits - self._log_q(pos)  # each column's candidate
        dup = pos.unsqueeze(0) == pos.unsqueeze(1)
        dup.fill_diagonal_(False)  # the other copies of a row's positive are no negatives
        logits = logits.masked_fill(dup, float("-inf"))
        target = torch.arange(pos.shape[0], device=pos.device)
        return _weighted_mean(F.cross_entropy(logits, target, reduction="none"), weight)

    def _l2(self, user, pos_vec):
        if self.embedding_l2 == 0:
            return 0.0
        return self.embedding_l2 * (user.pow(2).sum(-1).mean() + pos_vec.pow(2).sum(-1).mean())

    # ------------------------------------------------------------------ inference
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

    def _user_vectors(self, query) -> np.ndarray:
        return self._compute_user_vectors(self.module_, query, self.device_)

    def _item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    # ------------------------------------------------------------------ persistence
    _FITTED_LISTS = ("loss_curve_", "validation_scores_")

    def _state(self):
        meta = {name: list(map(float, getattr(self, name))) for name in self._FITTED_LISTS}
        meta["n_iter_"] = self.n_iter_
        arrays = {"item_vectors": self.item_vectors_}
        return meta, arrays, self.module_.state_dict()

    def _restore(self, meta, arrays, module_state) -> None:
        for name in self._FITTED_LISTS:
            setattr(self, name, meta[name])
        self.n_iter_ = meta["n_iter_"]
        self.item_vectors_ = arrays["item_vectors"]
        with torch.random.fork_rng(devices=[]):
            module = self._build_module()
        module.load_state_dict(module_state)
        self.module_ = module.eval()
        self.device_ = torch.device("cpu")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        if "module_" in state:
            module = state.pop("module_")
            state["_module_state"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
            state["device_"] = torch.device("cpu")
        return state

    def __setstate__(self, state):
        module_state = state.pop("_module_state", None)
        self.__dict__.update(state)
        if module_state is not None:
            with torch.random.fork_rng(devices=[]):
                module = self._build_module()
            module.load_state_dict(module_state)
            module.eval()
            self.module_ = module


def cpu_or_cuda(module) -> str:
    return next(module.parameters()).device.type


def _windows(history: UserHistory, length: int):
    """Cut every user's sequence into windows whose targets cover positions 1..n-1 once.

    Returns the user of each window and the (exclusive) end of its targets in
    ``history.items``: window ``w`` predicts ``items[end - length : end]`` from the item
    before each, so consecutive windows of a user never share a target.
    """
    n = np.diff(history.indptr)
    per_user = np.where(n >= 2, -(-(n - 1) // length), 0)  # ceil((n - 1) / length)
    user = np.repeat(np.arange(n.size), per_user)
    first = np.cumsum(per_user) - per_user
    k = np.arange(user.size) - np.repeat(first, per_user)  # 0 = most recent window
    end = history.indptr[user + 1] - k * length
    return user, end


def _trim_padding(batch: dict) -> dict:
    """Drop the leading columns that are padding in every row (training only).

    Histories are left-padded and positions right-aligned, so the result is unchanged
    while short-history batches (most of them on sparse data) cost far less.
    """
    hist = batch["hist"]
    used = (hist != 0).any(0)
    if used.all() or not used.any():
        return batch
    first = int(used.nonzero()[0, 0])
    batch = dict(batch, hist=hist[:, first:])
    for key in ("targets", "target_weights"):  # aligned with the history's positions
        if key in batch:
            batch[key] = batch[key][:, first:]
    return batch
