"""Full softmax over a growing catalogue: time and peak memory of one training step's loss.

Run from the repository root (each measurement in its own subprocess, so that its peak
RSS is its own)::

    python -m benchmarks.softmax_memory --items 1683 12101 100000 1000000

One forward and backward of the full-softmax loss of SASRec's benchmark batch (128
windows of 20 positions = 2,560 positions, d=64, float32) against the whole catalogue:
``F.cross_entropy(user @ items.T, target)``, which materialises the ``[positions x
items]`` logits, against ``skmatch.nn.softmax.softmax_loss``, which takes the rows in
cache-sized blocks. Peak RSS is the process's (torch and the inputs included); the
logits column is what one ``[positions x items]`` float32 tensor takes.

On a GPU (``--device cuda``) the memory column is the peak of
``torch.cuda.max_memory_allocated`` (the inputs included) and each step is synchronised;
``--amp`` runs the step under bfloat16 autocast on either device::

    python -m benchmarks.softmax_memory --device cuda --items 1683 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, markdown_table, today  # noqa: E402

POSITIONS, DIM = 2560, 64


def run_one(n_items: int, impl: str, reps: int, device: str = "cpu", amp: bool = False) -> dict:
    import contextlib

    import torch
    import torch.nn.functional as F

    from skmatch.nn.softmax import softmax_loss

    cuda = device == "cuda"
    g = torch.Generator().manual_seed(0)
    user = (torch.randn(POSITIONS, DIM, generator=g) * 0.1).to(device).requires_grad_()
    items = (torch.randn(n_items, DIM, generator=g) * 0.1).to(device).requires_grad_()
    target = torch.randint(0, n_items, (POSITIONS,), generator=g).to(device)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps + cuda):  # on CUDA one more: the first step pays the kernels' loads
        user.grad = items.grad = None
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16) if amp else contextlib.nullcontext():
            if impl == "cross_entropy":
                loss = F.cross_entropy(user @ items.T, target)
            else:
                loss = softmax_loss(user, items, target)
        loss.backward()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if cuda:
        times = times[1:]
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n_items": n_items, "impl": impl, "step_s": min(times), "peak_rss_mib": peak,
            "rss_before_mib": base, "loss": float(loss)}  # fmt: skip


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, nargs="+", default=[1683, 12101, 100_000])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help='"cpu" or "cuda"')
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--one", nargs=2, metavar=("N_ITEMS", "IMPL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(run_one(int(args.one[0]), args.one[1], args.reps, args.device, args.amp)))
        return
    rows = []
    for n_items in args.items:
        logits_mib = f"{POSITIONS * n_items * 4 / 2**20:,.0f}"
        for impl in ("cross_entropy", "softmax_loss"):
            cmd = [sys.executable, "-m", "benchmarks.softmax_memory", "--one", str(n_items),
                   impl, "--reps", str(args.reps), "--threads", str(args.threads),
                   "--device", args.device] + ["--amp"] * args.amp  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                why = (out.stderr.strip().splitlines() or [""])[-1][:60]
                if out.returncode < 0:  # -9: the kernel's OOM killer, most likely
                    why = f"killed by signal {-out.returncode} {why}".strip()
                rows.append([f"{n_items:,}", impl, "-", "-", logits_mib, f"failed: {why}"])
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            step, peak = f"{r['step_s']:.3f}", f"{r['peak_rss_mib']:,.0f}"
            rows.append([f"{n_items:,}", impl, step, peak, logits_mib, f"{r['loss']:.4f}"])
            print(f"  {n_items:>9,} {impl:<14} {step} s  {peak} MiB", flush=True)
    memory = "peak CUDA MiB" if args.device == "cuda" else "peak RSS MiB"
    header = ["items", "loss", "step s (best of reps)", memory, "logits MiB", "loss value"]
    print()
    print(markdown_table(header, rows))
    print()
    dtype = "bfloat16 autocast" if args.amp else "float32"
    print(f"{POSITIONS:,} positions, d={DIM}, {dtype}, forward + backward, best of {args.reps}.")
    if args.device == "cuda":
        import torch

        print(f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    print(f"Machine: {machine()}; torch threads {args.threads}; {today()}")
    items = " ".join(map(str, args.items))
    flags = (f" --device {args.device}" if args.device != "cpu" else "") + " --amp" * args.amp
    print(f"Command: `python -m benchmarks.softmax_memory{flags} --items {items}`")


if __name__ == "__main__":
    main()
