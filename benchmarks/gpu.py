"""Training throughput on CUDA vs CPU, and CUDA-trained models for the CPU round-trip.

Run on a machine with a GPU (SKMATCH_DATA_HOME pointing at MovieLens 100K)::

    python benchmarks/gpu.py --out /tmp/gpu_out
    python benchmarks/gpu.py --out /tmp/gpu_out --skip-throughput --pickle-models DSSM,SASRec

Prints a Markdown table (model, device, batch size, fit seconds, samples/s, NDCG@10) and,
for each of ``--pickle-models`` trained on CUDA, writes ``<out>/<model>_cuda.pkl``, its
``save`` file ``<model>_cuda.skm`` and ``<model>_expected.npz`` (the recommendations and
user vectors computed on the GPU machine). Then, on a CPU-only machine::

    python benchmarks/gpu.py --check /tmp/gpu_out

loads every pickle and save file there and compares its recommendations and vectors
with the expected ones.
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
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--pickle-models", default="DSSM", help="comma-separated")
    parser.add_argument("--pickle-epochs", type=int, default=2)
    parser.add_argument("--check", metavar="DIR", help="CPU side: verify the files of DIR")
    args = parser.parse_args()
    if args.check:
        check(Path(args.check))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = load_movielens("100k")
    train, test = leave_last_out_split(df)
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"GPU: {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}\n")
    if not args.skip_throughput:
        throughput(train, test, devices, args)
    if "cuda" not in devices:
        print("no CUDA device: no CUDA-trained files written (--pickle-models needs a GPU)")
    else:
        import skmatch.models as models

        users = test["user_id"].to_numpy()[:100]
        for label in args.pickle_models.split(","):
            cls = getattr(models, label)
            model = cls(n_epochs=args.pickle_epochs, device="cuda", random_state=0).fit(train)
            ids, scores = model.recommend(users, k=10)
            (out / f"{label}_cuda.pkl").write_bytes(pickle.dumps(model))
            model.save(out / f"{label}_cuda.skm")
            np.savez(out / f"{label}_expected.npz", users=users, ids=ids, scores=scores,
                     user_vectors=model.transform_users(users))  # fmt: skip
            print(f"wrote {out}/{label}_cuda.pkl, {label}_cuda.skm, {label}_expected.npz")


def throughput(train, test, devices, args) -> None:
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
                      f"{rate:,.0f} | {ndcg:.4f} |", flush=True)  # fmt: skip


def check(out: Path) -> None:
    """Load every CUDA-trained pickle and save file of ``out`` here; compare."""
    import skmatch.models as models

    print(f"torch {torch.__version__}; CUDA available here: {torch.cuda.is_available()}\n")
    print("| model | file | same top-10 ids | max score diff | max user-vector rel. diff |")
    print("|---|---|---|---|---|")
    expected_files = sorted(out.glob("*_expected.npz"))
    if not expected_files:
        raise SystemExit(f"no *_expected.npz in {out}")
    for expected in expected_files:
        label = expected.name.removesuffix("_expected.npz")
        ref = np.load(expected, allow_pickle=True)
        loaded = {
            "pickle": pickle.loads((out / f"{label}_cuda.pkl").read_bytes()),
            "save/load": getattr(models, label).load(out / f"{label}_cuda.skm"),
        }
        for how, model in loaded.items():
            ids, scores = model.recommend(ref["users"], k=10)
            vectors = model.transform_users(ref["users"])
            same = float((ids == ref["ids"]).all(axis=1).mean())
            finite = np.isfinite(ref["scores"])  # padding slots score -inf
            assert np.array_equal(finite, np.isfinite(scores)), f"{label}: padding differs"
            diff = float(np.abs(scores[finite] - ref["scores"][finite]).max())
            scale = np.abs(ref["user_vectors"]).max()
            rel = float(np.abs(vectors - ref["user_vectors"]).max() / scale)
            print(f"| {label} | {how} | {same:.0%} | {diff:.2e} | {rel:.2e} |", flush=True)


if __name__ == "__main__":
    main()
