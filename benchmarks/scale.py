"""Scale: time and peak memory as the catalogue grows, and training cost as the data grows.

Run from the repository root (each configuration in its own subprocess, so that its peak
RSS is its own)::

    python -m benchmarks.scale --users 100000 --items 10000 100000 1000000 --index hnsw
    python -m benchmarks.scale --users 10000 --items 10000 100000 1000000 --index exact
    python -m benchmarks.scale --rows 100000 1000000 --items 20000 --models all

The rows axis (``--rows``): ``make_interactions`` frames of 40 events per user (rows / 40
users) over ``--items`` items, every model with its defaults but one epoch and no early
stopping (``n_epochs=1, early_stopping=False``: the training pass is what is measured),
fit seconds (FeatureSpec, the epoch, item vectors and the index) and training rows per
second; cost that grows linearly with the data keeps rows/s flat.

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


def run_rows(model: str, n_rows: int, n_items: int, threads: int) -> dict:
    import torch

    import skmatch.models as models
    from skmatch.datasets import make_interactions

    torch.set_num_threads(threads)
    n_users = max(n_rows // 40, 1)
    df = make_interactions(n_users=n_users, n_items=n_items, seq_len=(40, 40), random_state=0)
    est = getattr(models, model)(n_epochs=1, early_stopping=False, random_state=0)
    t0 = time.perf_counter()
    est.fit(df)
    fit_s = time.perf_counter() - t0
    return {
        "model": model, "rows": len(df), "n_items": est.n_items_, "fit_s": fit_s,
        "rows_per_s": len(df) / fit_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def rows_axis(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from skmatch.models.registry import ESTIMATORS

    names = [e.name for e in ESTIMATORS if e.family != "baseline"]
    names = names if args.models == "all" else args.models.split(",")
    rows, by_model = [], {}
    for name in names:
        for n_rows in args.rows:
            path = out / f"rows_{name}_{n_rows}.json"
            cmd = [sys.executable, "-m", "benchmarks.scale", "--one-rows", name, "--record",
                   str(path), "--rows", str(n_rows), "--items", str(args.items[0]),
                   "--threads", str(args.threads)]  # fmt: skip
            if subprocess.run(cmd, cwd=HERE.parent).returncode != 0:
                print(f"{name} {n_rows}: FAILED", flush=True)
                continue
            r = json.loads(path.read_text())
            by_model.setdefault(name, []).append(r)
            print(f"{name} {r['rows']:,} rows: {r['rows_per_s']:,.0f} rows/s", flush=True)
    for name, recs in by_model.items():
        first = recs[0]["rows_per_s"]
        for r in recs:
            rows.append([name, f"{r['rows']:,}", f"{r['n_items']:,}", f"{r['fit_s']:.1f}",
                         f"{r['rows_per_s']:,.0f}", f"{first / r['rows_per_s']:.2f}",
                         f"{r['peak_rss_mib']:,.0f}"])  # fmt: skip
    header = ["model", "rows", "items", "fit s (1 epoch)", "rows/s",
              "slow-down per row vs the smallest", "peak RSS MiB"]  # fmt: skip
    print()
    print(markdown_table(header, rows))
    print(f"\nMachine: {machine()}; {args.threads} threads; {today()}")
    print("Command: python -m benchmarks.scale " + " ".join(sys.argv[1:]))


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
    p.add_argument("--rows", type=int, nargs="+", default=None,
                   help="the rows axis: training cost of every model at these sizes")
    p.add_argument("--models", default="all", help="with --rows: all, or comma-separated")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--one-rows", help=argparse.SUPPRESS)
    p.add_argument("--record", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one_rows:
        record = run_rows(args.one_rows, args.rows[0], args.items[0], args.threads)
        Path(args.record).write_text(json.dumps(record))
        return
    if args.rows:
        rows_axis(args)
        return
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
