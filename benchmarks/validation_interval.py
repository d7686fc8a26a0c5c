"""Early stopping on large data: how often to validate (``validation_interval``).

Run from the repository root::

    python -m benchmarks.validation_interval --rows 1000000 --models YoutubeDNN \
        --intervals 975,once --threads 1

Data: a ``make_interactions`` frame of 40 events per user (``--rows`` / 40 users) over
``--items`` items, leave-last-out (the test event of every user held out). Every model
is fitted with its defaults and the seed, once per ``--intervals`` entry: a number of
steps, ``auto`` (``validation_interval="auto"``: an epoch of more than 4,000 steps is
validated in equal parts of at most 4,000 steps) or ``once`` (an interval longer than
any epoch: once an epoch, as before the parameter existed). The table gives the fit
seconds, the epochs begun, the validations, where the kept weights were validated (in
epochs) and the test NDCG@10 / Recall@10 of the full catalogue, the user's training
items excluded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import command_line, machine, markdown_table, today  # noqa: E402

ONCE_AN_EPOCH = 10**9


def run(model: str, n_rows: int, n_items: int, interval, seed: int) -> dict:
    import numpy as np

    from skmatch.datasets import make_interactions
    from skmatch.metrics import evaluate
    from skmatch.model_selection import leave_last_out_split
    from skmatch.models.registry import load

    df = make_interactions(n_users=n_rows // 40, n_items=n_items, seq_len=(40, 40),
                           random_state=0)  # fmt: skip
    train, test = leave_last_out_split(df)
    est = load(model)(validation_interval=interval, random_state=seed)
    start = time.perf_counter()
    est.fit(train)
    fit_s = time.perf_counter() - start
    scores = est.validation_scores_
    best = int(np.argmax(scores))
    metrics = evaluate(est, test, k=10)
    return {"fit_s": fit_s, "epochs": est.n_epochs_, "validations": len(scores),
            "kept_at": est.validation_epochs_[best],
            "ndcg": metrics["ndcg@10"], "recall": metrics["recall@10"]}  # fmt: skip


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--models", default="YoutubeDNN")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--intervals", default="auto,once", help="steps, auto or once, by commas")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for model in args.models.split(","):
        for given in args.intervals.split(","):
            interval = {"auto": "auto", "once": ONCE_AN_EPOCH}.get(given) or int(given)
            r = run(model, args.rows, args.items, interval, args.seed)
            label = {"auto": '"auto"', "once": "once an epoch"}.get(given, f"{given} steps")
            quality = f"{r['ndcg']:.4f} / {r['recall']:.4f}"
            rows.append([model, label, f"{r['fit_s']:.1f}", r["epochs"], r["validations"],
                         f"{r['kept_at']:.2f}", quality])  # fmt: skip
            print(rows[-1], flush=True)
    header = ["model", "validation_interval", "fit s", "epochs", "validations",
              "kept weights at epoch", "test NDCG@10 / Recall@10"]  # fmt: skip
    print(f"# validation_interval on {args.rows:,} rows, {args.items:,} items ({today()})\n")
    print(f"`{command_line()}`\n\n{machine()}\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
