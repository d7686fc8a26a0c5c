"""Speed against quality of full softmax and sampled negatives for SASRec and STAMP.

Run from the repository root::

    SKMATCH_DATA_HOME=... python -m benchmarks.negatives_tradeoff [--threads 2]

MovieLens 100K, leave-last-out (fitted on every event but the last, tested on the last,
full ranking, seen items excluded), ``embed_dim=64``, seed 2022, the benchmark settings
of ``benchmarks/run.py`` (SASRec: window 20, dropout 0.5, 50 epochs; STAMP: window 50,
10 epochs), each with ``negatives="all"`` (the default) and with 256 uniform negatives
shared by the batch (logQ-corrected). Prints training samples per second and NDCG@10.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, markdown_table, today  # noqa: E402

CONFIGS = {
    "SASRec": dict(max_seq_len=20, params=dict(dropout=0.5, n_epochs=50)),
    "STAMP": dict(max_seq_len=50, params=dict(n_epochs=10)),
}
NEGATIVES = (("all", 100), ("uniform", 256))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    import skmatch.models
    from skmatch import FeatureSpec
    from skmatch.datasets import load_movielens
    from skmatch.metrics import evaluate
    from skmatch.model_selection import leave_last_out_split

    torch.set_num_threads(args.threads)
    train, test = leave_last_out_split(load_movielens("100k"))
    rows = []
    for name, cfg in CONFIGS.items():
        for negatives, n_negatives in NEGATIVES:
            model = getattr(skmatch.models, name)(
                feature_spec=FeatureSpec(max_seq_len=cfg["max_seq_len"]), negatives=negatives,
                n_negatives=n_negatives, random_state=2022, device="cpu", **cfg["params"],
            )  # fmt: skip
            start = time.perf_counter()
            model.fit(train)
            fit_s = time.perf_counter() - start
            ndcg = evaluate(model, test, k=10)["ndcg@10"]
            label = "full softmax" if negatives == "all" else f"{n_negatives} {negatives}"
            rows.append([name, label, f"{fit_s:.1f}", f"{len(train) * model.n_iter_ / fit_s:,.0f}",
                         f"{ndcg:.4f}"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(["model", "negatives", "fit s", "samples/s", "NDCG@10"], rows))
    print(f"\nMachine: {machine()}; {args.threads} threads; {today()}")
    print("Command: python -m benchmarks.negatives_tradeoff " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
