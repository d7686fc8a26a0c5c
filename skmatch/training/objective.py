"""The training objective: loss modes x negatives x logQ correction, for rows and windows.

One :class:`Objective` turns a batch into a loss. The module gives the user vectors
(``train_forward`` for rows, ``sequence_forward`` at every valid window position) and
the positives' vectors; the candidates come from ``negatives``:

- ``"all"``: every item of the catalogue. In listwise mode this is a full softmax,
  computed in blocks by :func:`~skmatch.nn.softmax.softmax_loss` without the
  ``[P, n_items]`` logits in memory.
- ``"in_batch"``: the other rows' positives (of every rank under DDP), duplicates of a
  row's positive masked. Listwise, single-process and unlabelled, this is one
  ``[B, B]`` cross-entropy with the positives on the diagonal (:meth:`Objective.
  in_batch_softmax`): the same loss as the general path in a third of the operations,
  the one specialisation of the general candidate path.
- ``"uniform"`` / ``"popularity"``: ``n_negatives`` items drawn per batch (shared by its
  rows) with a seeded ``numpy.random.Generator``; ``"mixed"``: in-batch and uniform;
  ``"hard"``: the ``n_negatives`` highest-scored in-batch non-positives of each row.

Logits are divided by ``temperature``; with ``logq_correction`` each candidate's logit
loses the log-probability of its being a candidate (Yi et al. 2019): its training
frequency for in-batch candidates (:class:`FrequencyLogQ`, or a model's own estimate,
such as YoutubeSBC's streaming one), the sampler's probability for sampled ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from skmatch.features import N_RESERVED, code_to_position
from skmatch.nn.losses import LOSSES, weighted_mean
from skmatch.nn.protocol import Batch, RetrievalModule
from skmatch.nn.sampling import NegativeSampler
from skmatch.nn.softmax import autocast_dtype, softmax_loss
from skmatch.training import distributed as ddp

SAMPLERS = {"uniform": "uniform", "mixed": "uniform", "popularity": "popularity"}


class FrequencyLogQ:
    """Log of each item's training frequency (add-one smoothed), by item code.

    Parameters
    ----------
    counts : ndarray of shape (n_item_codes,)
        Training count of every item code.
    device : torch.device
    """

    def __init__(self, counts: np.ndarray, device) -> None:
        total = counts[N_RESERVED:].sum()
        freq = (counts + 1.0) / (total + counts.size)
        self.table = torch.from_numpy(np.log(freq).astype(np.float32)).to(device)

    def observe(self, pos: torch.Tensor) -> None:
        """See a batch's positives (a streaming estimate updates here; this one is fixed)."""

    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        return self.table[codes]

    def state_dict(self) -> dict:
        """What a resumed fit needs to continue the estimate (nothing: it is fixed)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class Objective:
    """The loss of a fit (see the module docstring).

    Parameters
    ----------
    mode : {"listwise", "pairwise", "pointwise"}
    negatives : {"all", "in_batch", "uniform", "popularity", "mixed", "hard"}
    n_negatives : int
    temperature : float
    logq_correction : bool
    embedding_l2 : float
        L2 penalty on the batch's user and positive item vectors.
    counts : ndarray of shape (n_item_codes,)
        Training count of every item code (for the samplers).
    log_q : FrequencyLogQ or alike
        Log-probability of being an in-batch candidate, by item code.
    """

    def __init__(self, *, mode: str, negatives: str, n_negatives: int, temperature: float,
                 logq_correction: bool, embedding_l2: float, counts: np.ndarray,
                 log_q) -> None:  # fmt: skip
        self.mode, self.negatives, self.n_negatives = mode, negatives, n_negatives
        self.temperature, self.logq_correction = temperature, logq_correction
        self.embedding_l2 = embedding_l2
        self.n_item_codes = counts.size
        kind = SAMPLERS.get(negatives)
        self.sampler = NegativeSampler(counts, kind) if kind else None
        self.log_q = log_q

    def __call__(self, module: RetrievalModule, batch: Batch, rng) -> torch.Tensor:
        """The loss of ``batch`` (rows or windows), plus the module's regularization."""
        if batch.is_window:
            return self.window_loss(module, batch.trim_padding(), rng) + module.regularization()
        self.log_q.observe(batch.pos)
        batch = batch.trim_padding()
        user, pos_vec = module.train_forward(batch)  # [B, D], [B, D]
        loss = self.loss(module, user, batch.pos, pos_vec, rng, batch.weight, batch.label)
        if batch.weight is not None and ddp.world()[1] > 1:
            # this rank's part of the weighted mean over every rank's rows (unweighted,
            # the ranks' batches are the same size)
            loss = loss * ddp.share_of_rows(float(batch.weight.sum()), loss.device)
        return loss + module.regularization()

    def window_loss(self, module: RetrievalModule, batch: Batch, rng) -> torch.Tensor:
        """Every position of a window predicts its next item."""
        valid = batch.targets > 0  # [W, L]
        states = module.sequence_forward(batch, valid)  # [P, D], P = valid positions
        pos = batch.targets[valid]  # [P]
        weight = None if batch.weight is None else batch.weight[valid]  # [P], as its target
        loss = self.loss(module, states, pos, module.item_forward(pos), rng, weight)
        share = valid.sum() if weight is None else weight.sum()
        if batch.norm is not None:  # the sum over the targets / a full batch's average
            return loss * (share.to(loss.dtype) / batch.norm)
        if ddp.world()[1] > 1:  # ranks hold different numbers of positions (weight)
            loss = loss * ddp.share_of_rows(float(share), loss.device)
        return loss

    def loss(self, module, user, pos, pos_vec, rng, weight=None, label=None) -> torch.Tensor:
        """Loss of user vectors ``[B, D]`` against their positives ``pos [B]`` (item
        vectors ``pos_vec [B, D]``) and the negatives."""
        l2 = self.l2(user, pos_vec)
        if self.negatives == "all" and self.mode == "listwise":
            # cross_entropy(user @ items.T / temperature) without [P, n_items] in memory
            items = module.all_items(N_RESERVED)  # [N, D]
            target = code_to_position(pos)
            if _cpu_autocast(user):  # few distinct shapes: see pad_rows
                user, target, weight = pad_rows(user, target, weight)
            return softmax_loss(user, items, target, self.temperature, weight) + l2
        if (
            self.negatives == "in_batch"
            and self.mode == "listwise"
            and label is None
            and ddp.world()[1] == 1
        ):
            return self.in_batch_softmax(user, pos, pos_vec, weight) + l2
        pos_logit = (user * pos_vec).sum(-1) / self.temperature
        if self.mode == "pointwise" and label is not None:
            empty = pos_logit.unsqueeze(1)[:, :0]
            loss = LOSSES["pointwise"](pos_logit, empty, None, weight, labels=label)
        else:
            neg_logit, valid, log_q = self.candidate_logits(module, pos, user, pos_vec, rng)
            neg_logit = neg_logit / self.temperature
            if self.logq_correction and self.negatives != "all":
                pos_logit = pos_logit - self.pos_log_q(pos)
                neg_logit = neg_logit - log_q
            loss = LOSSES[self.mode](pos_logit, neg_logit, valid, weight)
        return loss + l2

    def candidate_logits(self, module, pos, user, pos_vec, rng):
        """Negatives of every row: logits ``[B, N]``, validity mask, log-probabilities.

        The log-probability of a candidate is that of being drawn as a negative: its
        training frequency for in-batch candidates, the sampler's for sampled ones.
        """
        parts = []
        if self.negatives == "all":  # every item of the catalogue
            codes = torch.arange(N_RESERVED, self.n_item_codes, device=pos.device)
            zeros = torch.zeros(codes.shape, device=pos.device)
            parts.append((codes, module.item_forward(codes), zeros))
        if self.negatives in ("in_batch", "mixed", "hard"):  # of every rank under DDP
            codes, vecs = ddp.gather_candidates(pos, pos_vec)
            parts.append((codes, vecs, self.log_q(codes)))
        if self.negatives in ("uniform", "popularity", "mixed"):
            codes = self.sampler._draw(rng, self.n_negatives)
            log_q = torch.from_numpy(self.sampler.log_q(codes).astype(np.float32))
            codes_t = torch.from_numpy(codes).to(pos.device)
            parts.append((codes_t, module.item_forward(codes_t), log_q.to(pos.device)))
        codes = torch.cat([c for c, _, _ in parts])
        vecs = torch.cat([v for _, v, _ in parts])
        log_q = torch.cat([q for _, _, q in parts])
        logits = user @ vecs.T  # [B, N]
        valid = codes.unsqueeze(0) != pos.unsqueeze(1)
        log_q = log_q.unsqueeze(0).expand_as(logits)
        if self.negatives == "hard":
            n = min(self.n_negatives, logits.shape[1])
            masked = logits.detach().masked_fill(~valid, float("-inf"))
            top = masked.topk(n, dim=1).indices
            logits, valid, log_q = logits.gather(1, top), valid.gather(1, top), log_q.gather(1, top)
        return logits, valid, log_q

    def pos_log_q(self, codes: torch.Tensor) -> torch.Tensor:
        """Correction of the positive: as a sampled candidate, or as an in-batch one."""
        if self.negatives in ("uniform", "popularity"):
            q = self.sampler.log_q(codes.cpu().numpy()).astype(np.float32)
            return torch.from_numpy(q).to(codes.device)
        return self.log_q(codes)

    def in_batch_softmax(self, user, pos, pos_vec, weight) -> torch.Tensor:
        """In-batch listwise loss as one ``[B, B]`` cross-entropy whose targets are the
        diagonal: the general path's loss (the row's positive against the other rows'
        positives, logQ-corrected, duplicates of the positive masked) in a third of the
        operations, which is most of a small model's step."""
        logits = user @ pos_vec.T  # [B, B], row i's positive on the diagonal
        if self.temperature != 1.0:
            logits = logits / self.temperature
        if self.logq_correction:
            logits = logits - self.log_q(pos)  # each column's candidate
        dup = pos.unsqueeze(0) == pos.unsqueeze(1)
        dup.fill_diagonal_(False)  # the other copies of a row's positive are no negatives
        logits = logits.masked_fill(dup, float("-inf"))
        target = torch.arange(pos.shape[0], device=pos.device)
        return weighted_mean(F.cross_entropy(logits, target, reduction="none"), weight)

    def l2(self, user, pos_vec):
        """``embedding_l2`` times the mean squared norms of the user and item vectors."""
        if self.embedding_l2 == 0:
            return 0.0
        return self.embedding_l2 * (user.pow(2).sum(-1).mean() + pos_vec.pow(2).sum(-1).mean())


def _cpu_autocast(x: torch.Tensor) -> bool:
    """Whether ``x`` lives on the CPU inside a CPU autocast region."""
    return x.device.type == "cpu" and autocast_dtype("cpu") is not None


def pad_rows(user: torch.Tensor, target: torch.Tensor, weight=None, multiple: int = 128):
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
