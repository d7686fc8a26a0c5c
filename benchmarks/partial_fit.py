"""partial_fit against a stale model and a refit, every model ranked from the same history.

Run from the repository root (``SKMATCH_DATA_HOME`` set for MovieLens)::

    python -m benchmarks.partial_fit

Each dataset is cut in time: the first 70% of events are what a model was fitted on
("old"); the last 30% arrive later and are split leave-last-out into new training
events and one test event per user. Four models are compared on the test events:

- *stale*: fitted on the old events only;
- *partial_fit*: the stale model updated with ``partial_fit(new training events)``;
- *no-op partial_fit*: the same with ``learning_rate=1e-9`` (weights unchanged, but the
  new users, items and histories known), which isolates what the update learns from what
  merely knowing the new events does;
- *refit*: fitted from scratch on old + new training events.

Two NDCG@10 columns: ``evaluate`` (each user embedded from the model's own fit-time
history, those items excluded), and *same history*: every model embeds each test user
from the old + new training events and excludes them (``recommend`` with a DataFrame),
the only like-for-like comparison, since a stale model does not know the new events.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, today


def same_history_ndcg(model, history: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """NDCG@k of ``test`` (one row per user), each user embedded from ``history``."""
    from skmatch.metrics import ndcg_at_k

    n_users = test["user_id"].nunique()
    hist = history[history["user_id"].isin(test["user_id"])]
    order = hist["user_id"].drop_duplicates().to_numpy()  # recommend's row order
    ids = model.recommend(hist, k=k, return_scores=False)
    target = test.set_index("user_id").loc[order, "item_id"].to_numpy()
    # users without a history row get no recommendation: they count as misses
    return float(ndcg_at_k(target, ids, k) * len(order) / n_users)


def compare(label: str, df: pd.DataFrame, make, quantile: float = 0.7) -> list[list[str]]:
    from skmatch.metrics import evaluate
    from skmatch.model_selection import leave_last_out_split
    from skmatch.models import Popularity

    late = df["timestamp"] > df["timestamp"].quantile(quantile)
    old, new = df[~late], df[late]
    new_train, test = leave_last_out_split(new)
    history = pd.concat([old, new_train])
    stale = make().fit(old)
    noop = pickle.loads(pickle.dumps(stale)).set_params(learning_rate=1e-9)
    models = {
        "stale (old events only)": stale,
        "partial_fit": pickle.loads(pickle.dumps(stale)).partial_fit(new_train),
        "no-op partial_fit (learning_rate=1e-9)": noop.partial_fit(new_train),
        "refit on old + new": make().fit(history),
        "Popularity, refit": Popularity().fit(history),
    }
    rows = []
    for name, model in models.items():
        fit_time = evaluate(model, test, k=10)["ndcg@10"]
        same = same_history_ndcg(model, history, test)
        rows.append([label, name, f"{fit_time:.4f}", f"{same:.4f}"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    from skmatch.datasets import load_movielens, make_interactions
    from skmatch.models import SASRec, YoutubeDNN

    torch.set_num_threads(args.threads)
    synthetic = make_interactions(n_users=300, n_items=100, random_state=5)
    ml = load_movielens("100k")[["user_id", "item_id", "timestamp"]]
    rows = []
    for data, df in (("synthetic", synthetic), ("ml-100k", ml)):
        for cls, kw in ((YoutubeDNN, {"n_epochs": 10}), (SASRec, {"n_epochs": 20})):
            if data == "synthetic":
                kw = {**kw, "embed_dim": 16}
            label = f"{data}, {cls.__name__}"
            rows += compare(label, df, lambda cls=cls, kw=kw: cls(random_state=0, **kw))
    print()
    header = ["data, model", "model", "NDCG@10, evaluate", "NDCG@10, same history"]
    print(markdown_table(header, rows))
    print()
    print(f"Machine: {machine()}; {today()}")
    print("Command: `python -m benchmarks.partial_fit`")


if __name__ == "__main__":
    main()
