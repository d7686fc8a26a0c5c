"""Benchmark ExactIndex against HNSWIndex on clustered vectors; prints a Markdown table.

Run by hand, e.g.::

    python benchmarks/index_bench.py --sizes 10000 100000 1000000 --dim 64 --queries 10000

Each (index, size) pair runs in a fresh process so that peak RSS is its own. Exact search
at 10^6 items is timed on at most ``--exact-queries`` queries; recall@10 of HNSW is
measured against exact search on those queries. Search throughput is the best of
``--repeats`` timed runs over the same queries (shared 2-core machines are noisy).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

K = 10


def clustered(n: int, dim: int, seed: int, n_clusters: int = 256) -> np.ndarray:
    """Gaussian mixture: ``n`` points around ``n_clusters`` random centres, float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))  # (C, dim), same for items and queries
    rng = np.random.default_rng([seed, n])
    labels = rng.integers(n_clusters, size=n)
    noise = rng.normal(scale=0.5, size=(n, dim))
    return (centres[labels] + noise).astype(np.float32)  # (n, dim)


def run_one(
    kind: str, n: int, dim: int, n_queries: int, n_timed: int, repeats: int, params: dict
) -> dict:
    """Build one index and time top-10 search of the first ``n_timed`` queries.

    Runs in its own process.
    """
    from skmatch.index import ExactIndex, HNSWIndex

    items = clustered(n, dim, seed=0)  # (n, dim)
    queries = (clustered(n_queries, dim, seed=0) + 0.1)[:n_timed]  # (n_timed, dim)
    index = ExactIndex(**params) if kind == "exact" else HNSWIndex(**params)
    t0 = time.perf_counter()
    index.fit(items)
    build_s = time.perf_counter() - t0
    index.search(queries[:10], K)  # warm-up
    search_s = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        indices, _ = index.search(queries, K)
        search_s = min(search_s, time.perf_counter() - t0)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"build_s": build_s, "qps": n_timed / search_s, "indices": indices, "rss": rss_mib}


def in_child(*args) -> dict:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(run_one, *args).result()


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [np.intersect1d(f, t).size for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits)) / truth.size


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=1_000,
        help="queries timed for exact search at >= 10^6 items",
    )
    parser.add_argument(
        "--ef",
        type=int,
        nargs="+",
        default=[None],
        help="HNSW ef values to sweep (default: the HNSWIndex default)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed search runs, best kept")
    parser.add_argument("--M", type=int, default=None, help="HNSW M (default: HNSWIndex's)")
    args = parser.parse_args(argv)

    print(f"python {' '.join(sys.argv)}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}\n"
    )
    print(
        "| items | index | params | build s | queries/s (top-10) | queries timed "
        "| recall@10 | peak RSS MiB |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        n_exact = args.queries if n < 1_000_000 else min(args.queries, args.exact_queries)
        exact = in_child("exact", n, args.dim, args.queries, n_exact, args.repeats, {})
        print(
            f"| {n:,} | exact | | {exact['build_s']:.2f} | {exact['qps']:,.0f} | {n_exact:,} "
            f"| 1.000 | {exact['rss']:,.0f} |",
            flush=True,
        )
        for ef in args.ef:
            params = {k: v for k, v in (("ef", ef), ("M", args.M)) if v is not None}
            res = in_child("hnsw", n, args.dim, args.queries, args.queries, args.repeats, params)
            rec = recall(res["indices"][:n_exact], exact["indices"])
            shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
            print(
                f"| {n:,} | hnsw | {shown} | {res['build_s']:.2f} | {res['qps']:,.0f} "
                f"| {args.queries:,} | {rec:.3f} | {res['rss']:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
