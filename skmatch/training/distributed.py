"""Data-parallel training under ``torchrun``: process group, shards, gathered candidates.

Every rank runs the same script on the same data. ``fit`` then trains one replica per
process, wrapped in ``DistributedDataParallel``: each rank takes its shard of every
epoch's permutation (the shards of ``torch.utils.data.DistributedSampler``: the
permutation padded by wrap-around to a multiple of the world size, rank ``r`` taking
positions ``r, r + W, ...``), in-batch negatives are gathered from all ranks, and the
gradients are averaged. When no process group is running and ``torchrun``'s variables
are absent, every function here is the single-process identity.
"""

from __future__ import annotations

import inspect
import os
import warnings
import zlib

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process is rank 0 (or the only process)."""
    return world()[0] == 0


def launched_world_size() -> int:
    """World size announced by ``torchrun`` (``WORLD_SIZE``), 1 when not launched by it."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_from_env(device: torch.device) -> torch.device:
    """Join ``torchrun``'s process group when it launched several processes.

    The backend is NCCL for CUDA training and gloo on CPU; a group the script already
    started is used as it is. On CUDA each process trains on ``cuda:LOCAL_RANK``.

    Returns
    -------
    torch.device
        The device this rank trains on.
    """
    if launched_world_size() > 1 and dist.is_available() and not dist.is_initialized():
        missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} is not set: "
                "launch the script with torchrun, or call "
                "torch.distributed.init_process_group yourself before fit."
            )
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if world()[1] > 1 and device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is None:
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        elif device.index != local:
            warnings.warn(
                f"device={str(device)!r} on the process of LOCAL_RANK {local}: every rank "
                "given the same explicit index trains on that one GPU (NCCL refuses two "
                "ranks on a device). Use device='cuda' to train on cuda:LOCAL_RANK.",
                stacklevel=3,
            )
    return device


def common_seed(random_state, device: torch.device):
    """``random_state``, except that ``None`` becomes a fresh seed drawn by rank 0 and
    shared, so that every rank cuts its shard from the same permutation."""
    if random_state is not None or world()[1] == 1:
        return random_state
    seed = torch.tensor([np.random.SeedSequence().entropy % 2**62], dtype=torch.int64)
    seed = seed.to(device)
    dist.broadcast(seed, 0)
    return int(seed)


def check_same(values: list[int], what: str, device: torch.device) -> None:
    """Raise, on every rank, when the ranks disagree on ``values``."""
    if world()[1] == 1:
        return
    local = torch.tensor(values, dtype=torch.int64, device=device)
    out = [torch.zeros_like(local) for _ in range(world()[1])]
    dist.all_gather(out, local)
    rows = torch.stack(out).cpu().numpy()
    differ = np.flatnonzero((rows != rows[0]).any(axis=1))
    if differ.size:
        raise ValueError(
            f"distributed fit: {differ.size} rank(s) (first: {differ[:5].tolist()}) "
            f"disagree with rank 0 on {what}: {rows[differ[0]].tolist()} against "
            f"{rows[0].tolist()}."
        )


def share_of_rows(n: float, device: torch.device) -> float:
    """``n * W / (rows of all ranks)``: the factor that turns this rank's mean loss over
    its ``n`` rows into its part of the mean over every rank's rows (DDP averages the
    ranks' gradients), for steps whose ranks hold different numbers of rows. ``n`` may
    be a sum of row weights (a weighted mean)."""
    local = torch.tensor([float(n)], dtype=torch.float64, device=device)
    out = [torch.zeros_like(local) for _ in range(world()[1])]
    dist.all_gather(out, local)
    total = sum(float(x) for x in out)
    return float(n) * len(out) / total if total > 0 else 0.0


def shard(order: np.ndarray, rank: int, size: int) -> np.ndarray:
    """This rank's part of an epoch's permutation, as ``DistributedSampler`` cuts it.

    The permutation is padded by wrapping around to a multiple of ``size`` and rank
    ``rank`` takes every ``size``-th position from ``rank``, so all ranks get the same
    number of units (hence of batches).
    """
    if size == 1:
        return order
    total = shard_size(order.size, size) * size
    padded = np.resize(order, total) if order.size else order  # wrap-around padding
    return padded[rank:total:size]


def shard_size(n: int, size: int) -> int:
    """Units per rank when ``n`` are sharded over ``size`` ranks (see :func:`shard`)."""
    return -(-n // size)


def state_seed(rng: np.random.Generator) -> int:
    """A seed derived from ``rng``'s state without drawing from it (the same on every
    rank, and saved in checkpoints with that state)."""
    return zlib.crc32(repr(rng.bit_generator.state).encode())


def _sizes(n: int, device: torch.device) -> list[int]:
    local = torch.tensor([n], dtype=torch.int64, device=device)
    out = [torch.zeros_like(local) for _ in range(world()[1])]
    dist.all_gather(out, local)
    return [int(x) for x in out]


def gather_codes(codes: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """The 1-d tensors ``codes`` of every rank, concatenated in rank order (no gradient;
    sizes may differ between ranks; pass them when already gathered)."""
    if world()[1] == 1:
        return codes
    sizes = _sizes(codes.shape[0], codes.device) if sizes is None else sizes
    padded = F.pad(codes, (0, max(sizes) - codes.shape[0]))
    out = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(out, padded)
    return torch.cat([o[:n] for o, n in zip(out, sizes, strict=True)])


class _GatherRows(torch.autograd.Function):
    """All ranks' ``[n, D]`` blocks stacked ``[W * n, D]``; the gradient of this rank's
    block is the sum over ranks of their losses' gradients (an all-reduce, which gloo
    has, then this rank's slice)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        out = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(out, x.contiguous())
        ctx.rank, ctx.n = rank, x.shape[0]
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_candidates(codes: torch.Tensor, vecs: torch.Tensor):
    """In-batch candidates of every rank: codes ``[N]`` and vectors ``[N, D]``.

    The vectors are gathered with autograd, so the other ranks' losses reach this
    rank's item tower. Ranks may hold different numbers of rows (windowed sequence
    models train on a variable number of positions).
    """
    if world()[1] == 1:
        return codes, vecs
    sizes = _sizes(codes.shape[0], codes.device)
    longest = max(sizes)
    stacked = _GatherRows.apply(F.pad(vecs, (0, 0, 0, longest - codes.shape[0])))
    keep = torch.cat([torch.arange(n, device=vecs.device) + r * longest
                      for r, n in enumerate(sizes)])  # fmt: skip
    return gather_codes(codes, sizes), stacked[keep]


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over the ranks."""
    if world()[1] == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world()[1]


def from_main(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank (so all ranks take the same decisions)."""
    if world()[1] == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return float(t)


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def check_same_data(inter, n_units: int, device: torch.device) -> None:
    """Refuse to train when the ranks were given different data or vocabularies."""
    if world()[1] == 1:
        return
    crc = 0
    for array in (inter.user_codes, inter.item_codes, inter.times, inter.labels, inter.weights):
        if array is not None:
            crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    n_items = int(inter.item_codes.max(initial=0))
    check_same(
        [len(inter), inter.history.n_users, n_items, n_units, crc],
        "the interactions (rows, users, max item code, training units, checksum of codes, "
        "times, labels and weights); every rank must call fit on the same data",
        device,
    )


class LossForward(torch.nn.Module):
    """The training loss as a module's ``forward``, so that ``DistributedDataParallel``
    sees the whole step (its gradient hooks are armed by ``forward``)."""

    def __init__(self, module: torch.nn.Module, loss_fn):
        super().__init__()
        self.module = module
        self._loss_fn = loss_fn

    def forward(self, batch: dict, rng: np.random.Generator) -> torch.Tensor:
        return self._loss_fn(self.module, batch, rng)


class SingleProcess:
    """How the training loop runs in one process: every unit, every step, here."""

    rank, size = 0, 1

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def wrap(self, module: torch.nn.Module, loss_fn):
        """``loss_fn(module, batch, rng)`` as a callable ``step(batch, rng)``."""
        return lambda batch, rng: loss_fn(module, batch, rng)

    def epoch_order(self, rng: np.random.Generator, units: np.ndarray):
        """This process's units of the epoch, in order, and the generator of its batches."""
        return rng.permutation(units), rng

    def steps_per_epoch(self, n_units: int, batch_size: int) -> int:
        return -(-shard_size(n_units, self.size) // batch_size)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over the processes."""
        return value

    def from_main(self, value: float) -> float:
        """Rank 0's value (so that all ranks decide alike)."""
        return value

    def barrier(self) -> None:
        """Wait for every process."""


class DataParallel(SingleProcess):
    """Data-parallel training under ``torchrun``: each rank its shard of every epoch's
    permutation, its own negatives and dropout (reproducibly), the gradients averaged
    by ``DistributedDataParallel``."""

    def __init__(self, device: torch.device) -> None:
        super().__init__(device)
        self.rank, self.size = world()

    def wrap(self, module: torch.nn.Module, loss_fn):
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device] if self.device.type == "cuda" else None
        # the modules' buffers are constants (side-feature tables, routing logits): no
        # need to re-send rank 0's every step (the keyword was renamed in recent torch)
        params = inspect.signature(DistributedDataParallel).parameters
        no_sync = "forward_sync_buffers"
        if no_sync not in params:
            no_sync = "broadcast_buffers"
        return DistributedDataParallel(
            LossForward(module, loss_fn), device_ids=ids, **{no_sync: False}
        )

    def epoch_order(self, rng: np.random.Generator, units: np.ndarray):
        order = rng.permutation(units)
        seed = state_seed(rng)  # leaves rng as a single process would
        torch.manual_seed(seed * self.size + self.rank)
        return shard(order, self.rank, self.size), np.random.default_rng([seed, self.rank])

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return mean_over_ranks(value)

    def from_main(self, value: float) -> float:
        return from_main(value, self.device)

    def barrier(self) -> None:
        barrier()


def strategy(device: torch.device) -> SingleProcess:
    """The strategy of this process: :class:`DataParallel` inside a process group of
    several ranks, else :class:`SingleProcess`."""
    return DataParallel(device) if world()[1] > 1 else SingleProcess(device)
