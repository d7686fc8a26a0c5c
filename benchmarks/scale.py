"""Huge catalogues: time and peak memory of recommend and evaluate as the catalogue grows.

Run from the repository root (each configuration in its own subprocess, so that its peak
RSS is its own)::

    python -m benchmarks.scale --users 100000 --items 10000 100000 1000000 --index hnsw
    python -m benchmarks.scale --users 10000 --items 10000 100000 1000000 --index exact

Data: ``make_interactions`` (``--seq-len``, 10-30 events per user by default; ``--skew``,
the Zipf exponent of popularity: a lower one spreads the events over more of the
catalogue), leave-last-out. Model: YoutubeDNN,
``embed_dim=32``, one epoch (the fit is not what is measured). Then ``recommend`` for
every user (k=10, seen items filtered) and ``evaluate`` on the held-out events (k=10),
through the model's index: ``ExactIndex`` scores users in blocks sized by scikit-learn's
``working_memory`` (1024 MiB by default), so memory stays bounded while time grows with
users x items; ``HNSWIndex`` searches a graph. The table shows the dense score matrix a
naive implementation would allocate, for comparison with the peak RSS.
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


def run_one(n_users: int, n_items: int, index: str, threads: int, *, seq_len=(10, 30),
            skew: float = 1.0, fit_device: str = "cpu") -> dict:  # fmt: skip
    import torch

    from skmatch.datasets import make_interactions
    from skmatch.metrics import evaluate
    from skmatch.model_selection import leave_last_out_split
    from skmatch.models import YoutubeDNN

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    df = make_interactions(n_users=n_users, n_items=n_items, seq_len=tuple(seq_len),
                           popularity_skew=skew, random_state=0)  # fmt: skip
    train, test = leave_last_out_split(df)
    data_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    params = {"num_threads": threads} if index == "hnsw" else None
    model = YoutubeDNN(embed_dim=32, n_epochs=1, batch_size=1024, index=index,
                       index_params=params, random_state=0, device=fit_device)  # fmt: skip
    model.fit(train)  # the index is built on the CPU whatever the fit device
    fit_s = time.perf_counter() - t0
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    users = train["user_id"].unique()
    t0 = time.perf_counter()
    ids = model.recommend(users, k=10, return_scores=False)
    rec_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = evaluate(model, test, k=10)
    eval_s = time.perf_counter() - t0
    assert ids.shape == (len(users), 10)
    return {
        "n_users": len(users),
        "n_items": model.n_items_,
        "n_train": len(train),
        "index": type(model.index_).__name__,
        "data_s": data_s,
        "fit_s": fit_s,
        "recommend_s": rec_s,
        "evaluate_s": eval_s,
        "recall@10": scores["recall@10"],
        "peak_rss_after_fit_mib": rss_fit,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "dense_scores_mib": len(users) * model.n_items_ * 4 / 2**20,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--index", choices=["exact", "hnsw"], default="hnsw")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seq-len", type=int, nargs=2, default=[10, 30],
                   help="inclusive range of events per user")  # fmt: skip
    p.add_argument("--skew", type=float, default=1.0,
                   help="Zipf exponent of item popularity (lower: more of the catalogue used)")
    p.add_argument("--fit-device", default="cpu",
                   help="where the one training epoch runs (recommend/evaluate: CPU)")
    p.add_argument("--out", default=str(HERE / "out" / "scale"))
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--record", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        record = run_one(args.users, args.one, args.index, args.threads, seq_len=args.seq_len,
                         skew=args.skew, fit_device=args.fit_device)  # fmt: skip
        Path(args.record).write_text(json.dumps(record))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_items in args.items:
        path = out / f"{args.index}_{args.users}_{n_items}.json"
        cmd = [sys.executable, "-m", "benchmarks.scale", "--one", str(n_items), "--record",
               str(path), "--users", str(args.users), "--index", args.index,
               "--threads", str(args.threads), "--seq-len", *map(str, args.seq_len),
               "--skew", str(args.skew), "--fit-device", args.fit_device]  # fmt: skip
        done = subprocess.run(cmd, cwd=HERE.parent)
        if done.returncode != 0:
            print(f"{n_items} items: FAILED (exit {done.returncode})", flush=True)
            continue
        r = json.loads(path.read_text())
        print(f"{r['n_items']:>9,} items: recommend {r['recommend_s']:.1f}s, "
              f"evaluate {r['evaluate_s']:.1f}s, peak RSS {r['peak_rss_mib']:,.0f} MiB",
              flush=True)  # fmt: skip
        rows.append([
            f"{r['n_items']:,}", f"{r['n_users']:,}", r["index"], f"{r['fit_s']:.1f}",
            f"{r['recommend_s']:.1f}", f"{r['evaluate_s']:.1f}",
            f"{r['peak_rss_after_fit_mib']:,.0f}", f"{r['peak_rss_mib']:,.0f}",
            f"{r['dense_scores_mib']:,.0f}", f"{r['recall@10']:.4f}",
        ])  # fmt: skip
    header = ["items", "users", "index", "fit s (1 epoch)", "recommend s", "evaluate s",
              "peak RSS after fit MiB", "peak RSS MiB", "dense score matrix MiB",
              "Recall@10"]  # fmt: skip
    print()
    print(markdown_table(header, rows))
    print(f"\nMachine: {machine()}; {args.threads} threads; {today()}")
    print("Command: python -m benchmarks.scale " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
