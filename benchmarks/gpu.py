"""Training throughput on CUDA vs CPU, and a CUDA-trained pickle for the CPU round-trip.

Run on a machine with a GPU (SKMATCH_DATA_HOME pointing at MovieLens 100K)::

    python benchmarks/gpu.py --out /tmp/gpu_out

Prints a Markdown table (model, device, batch size, fit seconds, samples/s, NDCG@10) and
writes ``<out>/dssm_cuda.pkl`` and ``<out>/expected.npz`` (its recommendations) so that a
CPU-only machine can check that the pickle loads and recommends identically.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import torch

from skmatch.datasets import load_movielens
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import DSSM, YoutubeDNN, YoutubeSBC

MODELS = {"DSSM": DSSM, "YoutubeDNN": YoutubeDNN, "YoutubeSBC": YoutubeSBC}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/out/gpu")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = load_movielens("100k")
    train, test = leave_last_out_split(df)
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"GPU: {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}\n")
    print("| model | device | batch | epochs | fit s | samples/s | NDCG@10 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, cls in MODELS.items():
        for device in devices:
            for bs in args.batch_sizes:
                model = cls(n_epochs=args.epochs, batch_size=bs, device=device, random_state=0)
                start = time.perf_counter()
                model.fit(train)
                if device == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
                ndcg = evaluate(model, test, k=10)["ndcg@10"]
                rate = len(train) * args.epochs / seconds
                print(f"| {label} | {device} | {bs} | {args.epochs} | {seconds:.1f} | "
                      f"{rate:,.0f} | {ndcg:.4f} |", flush=True)
    if "cuda" in devices:
        model = DSSM(n_epochs=2, device="cuda", random_state=0).fit(train)
        users = test["user_id"].to_numpy()[:100]
        ids, scores = model.recommend(users, k=10)
        (out / "dssm_cuda.pkl").write_bytes(pickle.dumps(model))
        model.save(out / "dssm_cuda.skm")
        np.savez(out / "expected.npz", users=users, ids=ids, scores=scores,
                 user_vectors=model.transform_users(users))
        print(f"\nwrote {out}/dssm_cuda.pkl, dssm_cuda.skm and expected.npz")


if __name__ == "__main__":
    main()
