"""Side features against ids only, and cold-start items embedded from their features.

Run from the repository root::

    SKMATCH_DATA_HOME=/work/shared/data python -m benchmarks.features --dataset ml-100k
    python -m benchmarks.features --dataset beauty --models SASRec,DSSM
    python -m benchmarks.features --cold-start --models DSSM,SASRec,MIND
    python -m benchmarks.features --dataset beauty --models SASRec --only features \
        --set block=ligr    # exploration: not the defaults

**Features against ids** (``--dataset``): the strict protocol of ``benchmarks.run`` (fit
on ``train2``, embed from ``train1``, rank the test event over the full catalogue, seen
items excluded), every model with its defaults and ``random_state=0``, fitted twice:
ids only, and with the dataset's side features in the ``FeatureSpec`` (MovieLens 100K:
the users' gender, age and occupation and the items' genres; Amazon Beauty: the items'
category and brand ids of ``Beauty_item2attributes.json``). Each fit in its own
subprocess.

**Cold start** (``--cold-start``, Amazon Beauty): 20% of the items (seeded draw) are
held out with all their interactions. Each user's last remaining-or-not event is the
test target; the model is fitted (defaults, item attributes) on the events of the other
items that precede each user's target. For the test users whose target is a held-out
item, the held-out items are added from their attributes alone (``add_items``, nothing
trained on them) and ranked, the user embedded from its training history. NDCG@10 of
the target among the cold items only, against a random ranking (its expectation) and
against a heuristic: the cold items holding the most frequent attribute of the user's
history first (ties at random, seeded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import command_line, machine, markdown_table, today  # noqa: E402
from defaults import _pairs  # noqa: E402  (key=value parameters, as benchmarks.defaults)

MODELS = ("SASRec", "GRU4Rec", "MIND", "DSSM")
FEATURES = {
    "ml-100k": {"user_features": ["gender", "age", "occupation"], "item_features": ["genres"]},
    "beauty": {"item_features": ["attributes"]},
}


def load(dataset: str):
    if dataset == "ml-100k":
        from skmatch.datasets import load_movielens

        return load_movielens("100k")[["user_id", "item_id", "timestamp", "gender", "age",
                                       "occupation", "genres"]]  # fmt: skip
    from skmatch.datasets import load_amazon_beauty

    return load_amazon_beauty(attributes=True)


def run_one(name: str, dataset: str, with_features: bool, seed: int, threads: int = 2,
            params: dict | None = None) -> dict:  # fmt: skip
    import torch
    from run import ranking_metrics

    import skmatch.models as models
    from skmatch.model_selection import leave_last_out_split

    torch.set_num_threads(threads)
    df = load(dataset)
    train1, test = leave_last_out_split(df)
    train2, _ = leave_last_out_split(train1)
    cls = getattr(models, name)
    # the model's own default spec (its history window), with the features set
    spec = cls()._default_spec().set_params(**(FEATURES[dataset] if with_features else {}))
    t0 = time.perf_counter()
    model = cls(feature_spec=spec, random_state=seed, **(params or {})).fit(train2)
    fit_s = time.perf_counter() - t0
    metrics = ranking_metrics(model, train1, test, df["item_id"].nunique())
    return {"model": name, "features": with_features, "fit_s": fit_s, "set": params or {},
            "epochs": model.n_epochs_, "test": metrics}  # fmt: skip


def cold_start_one(name: str, seed: int, threads: int = 2) -> dict:
    import torch

    import skmatch.models as models
    from skmatch.metrics import ndcg_at_k
    from skmatch.model_selection import leave_last_out_split

    torch.set_num_threads(threads)
    df = load("beauty")
    rng = np.random.default_rng(seed)
    items = df["item_id"].unique()
    cold = set(rng.choice(items, size=len(items) // 5, replace=False).tolist())
    rest, test = leave_last_out_split(df)
    train = rest[~rest["item_id"].isin(cold)]
    test = test[test["item_id"].isin(cold) & test["user_id"].isin(train["user_id"])]
    cls = getattr(models, name)
    spec = cls()._default_spec().set_params(item_features=["attributes"])
    t0 = time.perf_counter()
    model = cls(feature_spec=spec, random_state=seed).fit(train)
    fit_s = time.perf_counter() - t0
    cold_items = df[df["item_id"].isin(cold)].drop_duplicates("item_id")[["item_id", "attributes"]]
    model.add_items(cold_items)
    hist = train[train["user_id"].isin(test["user_id"])]
    users = hist["user_id"].unique()
    y = test.set_index("user_id")["item_id"].loc[users].to_numpy()
    ids = model.recommend(hist, k=10, candidates=cold_items["item_id"], return_scores=False)
    ours = float(ndcg_at_k(y, ids, 10))
    n = len(cold_items)
    random = float(sum(1 / np.log2(r + 2) for r in range(10)) / n)  # E[NDCG@10], 1 target
    # heuristic: the user's most frequent attribute first, ties at random
    tokens = hist[["user_id"]].assign(a=hist["attributes"].str.split("|")).explode("a")
    tokens = tokens[tokens["a"].notna() & (tokens["a"] != "")]
    counts = tokens.groupby(["user_id", "a"]).size().rename("n").reset_index()
    top = counts.sort_values(["user_id", "n"], ascending=[True, False]).drop_duplicates("user_id")
    top_attr = top.set_index("user_id")["a"].reindex(users)
    vocab = {a: j for j, a in enumerate(sorted(set(tokens["a"])))}
    item_attrs = cold_items["attributes"].str.split("|").explode()
    known = item_attrs.map(vocab)
    has = np.zeros((n, len(vocab) + 1))  # the last column: "no attribute" (never a top)
    rows = np.repeat(np.arange(n), cold_items["attributes"].str.split("|").str.len())
    has[rows, known.fillna(len(vocab)).astype(int).to_numpy()] = 1.0
    user_col = top_attr.map(vocab).fillna(len(vocab)).astype(int).to_numpy()
    score = rng.random((len(users), n)) + has[:, user_col].T  # [users, cold items]
    order = np.argsort(-score, axis=1)[:, :10]
    heuristic = float(ndcg_at_k(y, cold_items["item_id"].to_numpy()[order], 10))
    return {"model": name, "fit_s": fit_s, "users": len(users), "cold_items": n,
            "ndcg": ours, "random": random, "heuristic": heuristic}  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["ml-100k", "beauty"], default="ml-100k")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--cold-start", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads per fit")
    p.add_argument("--only", choices=["ids", "features"], help="one of the two fits")
    p.add_argument("--set", action="append", help="key=value: a model parameter (exploration)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--with-features", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--record", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        rec = (cold_start_one(args.one, args.seed, args.threads) if args.cold_start
               else run_one(args.one, args.dataset, args.with_features, args.seed,
                            args.threads, _pairs(args.set)))  # fmt: skip
        Path(args.record).write_text(json.dumps(rec))
        return 0
    tag = "cold" if args.cold_start else args.dataset
    out = Path(args.out) / f"features_{tag}_{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for name in args.models.split(","):
        both = [False, True] if args.only is None else [args.only == "features"]
        for feats in [True] if args.cold_start else both:
            path = out / f"{name}_{feats}.json"
            cmd = [sys.executable, "-m", "benchmarks.features", "--one", name, "--record",
                   str(path), "--dataset", args.dataset, "--seed", str(args.seed),
                   "--threads", str(args.threads)]  # fmt: skip
            cmd += ["--cold-start"] if args.cold_start else []
            cmd += ["--with-features"] if feats else []
            cmd += [f"--set={p}" for p in args.set or ()]
            if subprocess.run(cmd, cwd=HERE.parent).returncode == 0:
                records.append(json.loads(path.read_text()))
                print(records[-1], flush=True)
    if args.cold_start:
        header = ["model", "test users", "cold items", "NDCG@10 (cold items only)",
                  "random", "x random", "most frequent attribute", "fit s"]  # fmt: skip
        rows = [[r["model"], r["users"], r["cold_items"], f"{r['ndcg']:.4f}",
                 f"{r['random']:.4f}", f"{r['ndcg'] / r['random']:.1f}",
                 f"{r['heuristic']:.4f}", f"{r['fit_s']:.0f}"] for r in records]  # fmt: skip
    else:
        by = {(r["model"], r["features"]): r for r in records}
        header = ["model", "ids only NDCG@10 (epochs)", "with features NDCG@10 (epochs)",
                  "ratio", "fit s ids / features"]  # fmt: skip
        rows = []
        for name in args.models.split(","):
            a, b = by.get((name, False)), by.get((name, True))
            if args.only:  # one of the two fits
                r = a or b
                if r:
                    cells = [f"{r['test']['NDCG@10']:.4f} ({r['epochs']})", ""]
                    rows.append([name, *(cells if a else cells[::-1]), "",
                                 f"{r['fit_s']:.0f}"])  # fmt: skip
            if a and b:
                rows.append([name, f"{a['test']['NDCG@10']:.4f} ({a['epochs']})",
                             f"{b['test']['NDCG@10']:.4f} ({b['epochs']})",
                             f"{b['test']['NDCG@10'] / a['test']['NDCG@10']:.2f}",
                             f"{a['fit_s']:.0f} / {b['fit_s']:.0f}"])  # fmt: skip
    note = f"\n† not the defaults: {args.set}\n" if args.set else ""
    text = (f"# Features ({tag}, {today()})\n\n`{command_line()}`\n\n{machine()}\n\n"
            f"{markdown_table(header, rows)}\n{note}")  # fmt: skip
    (out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
