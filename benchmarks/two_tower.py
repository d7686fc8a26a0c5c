"""Two-tower models of skmatch on MovieLens 100K, optionally against Torch-RecHub 0.9.0.

Run by hand from the repository root (prints a Markdown table, writes JSON to
``benchmarks/out/``)::

    SKMATCH_DATA_HOME=/work/shared/data python benchmarks/two_tower.py \\
        --epochs 10 --batch-size 256 --dim 64 --compare torch-rechub

Protocol (identical to ``/work/shared/tools/rechub_anchor.py``): each user's interactions
sorted by (timestamp, row order); the last item is the test target, the one before it the
validation target, the rest is training. Models are fitted on the training rows only
(``train2``); for the test ranking each user is embedded from training + validation items
(``train1``), which are excluded from a full ranking over all items; Recall@10/20 and
NDCG@10/20 averaged over all users.

Side features mirror the anchor: its DSSM has user gender/age/occupation/zip and the item's
first genre (``cate_id``), its YoutubeDNN the same user features and the bare item id.
``--features both`` also runs every model on ids only.

``--compare torch-rechub`` runs the anchor (``dssm,youtubednn``) with the same epochs,
batch size, dimension and seed in ``/work/.venv-rechub`` in a subprocess and adds its rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RECHUB_PYTHON,
    command_line,
    machine,
    markdown_table,
    peak_rss_mib,
    today,
)

ROOT = Path(__file__).resolve().parent
ANCHOR = Path(
    os.environ.get("RECHUB_ANCHOR", ROOT.parents[1] / "shared" / "tools" / "rechub_anchor.py")
)
ALL_MODELS = ("DSSM", "FaceBookDSSM", "YoutubeDNN", "YoutubeSBC")
USER_FEATURES = ("gender", "age", "occupation", "zip")
RECHUB_MODELS = {"DSSM": "dssm", "YoutubeDNN": "youtubednn"}
KS = (10, 20)


def load_data():
    """ML-100K with ``cate_id`` = the movie's first genre (as the anchor builds it)."""
    from skmatch.datasets import load_movielens

    df = load_movielens("100k")
    # u.item genre flags in u.genre order; the anchor takes argmax = the first flagged one
    df["cate_id"] = df["genres"].str.split("|").str[0]
    return df


def side_features(model: str, variant: str) -> tuple[tuple, tuple]:
    """(user_features, item_features) of a model: the anchor's, or none ("ids")."""
    if variant == "ids":
        return (), ()
    if model == "YoutubeDNN":  # anchor: YoutubeDNN(user_sparse + [mean_hist], [item_id], ...)
        return USER_FEATURES, ()
    return USER_FEATURES, ("cate_id",)  # anchor: DSSM item features = item_id + cate_id


def test_metrics(model, train1, test) -> tuple[dict, float]:
    """Recall/NDCG@10/20 of the test items, users embedded from ``train1``."""
    from skmatch.metrics import ndcg_at_k, recall_at_k

    t0 = time.perf_counter()
    ids = model.recommend(train1, k=max(KS), return_scores=False)
    rec_s = time.perf_counter() - t0
    users = train1["user_id"].unique()  # recommend's row order: first appearance
    target = test.set_index("user_id")["item_id"]
    assert target.index.is_unique and len(users) == len(target) == len(ids)
    y_true = target.loc[users].to_numpy()
    out = {}
    for k in KS:
        out[f"Recall@{k}"] = float(recall_at_k(y_true, ids, k))
        out[f"NDCG@{k}"] = float(ndcg_at_k(y_true, ids, k))
    return out, rec_s


def run_ours(name: str, variant: str, train2, train1, test, args) -> dict:
    import torch

    import skmatch.models as models
    from skmatch import FeatureSpec

    user_f, item_f = side_features(name, variant)
    spec = FeatureSpec(user_features=list(user_f), item_features=list(item_f), max_seq_len=50)
    t0 = time.perf_counter()
    inter = spec.fit_transform(train2)
    prep_s = time.perf_counter() - t0
    if name == "Popularity":
        model = models.Popularity()
    else:
        model = getattr(models, name)(
            embed_dim=args.dim,
            batch_size=args.batch_size,
            n_epochs=args.epochs,
            random_state=args.seed,
            device="cpu",
        )
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    model.fit(inter)
    train_s = time.perf_counter() - t0
    metrics, rec_s = test_metrics(model, train1, test)
    fit_s = prep_s + train_s
    epochs = 0 if name == "Popularity" else args.epochs
    rec = {
        "library": "skmatch",
        "model": name,
        "features": variant if name != "Popularity" else "-",
        "user_features": list(user_f),
        "item_features": list(item_f),
        "mode": getattr(model, "mode", "-"),
        "negatives": getattr(model, "negatives", "-"),
        "epochs": epochs,
        "prep_s": prep_s,
        "train_s": train_s,
        "fit_s": fit_s,
        "n_pos": len(train2),
        "samples_per_s": len(train2) * epochs / fit_s if epochs else None,
        "recommend_s": rec_s,
        "test": metrics,
        "peak_rss_mib": peak_rss_mib(),
    }
    if hasattr(model, "loss_curve_"):
        rec["loss_curve"] = [float(x) for x in model.loss_curve_]
    print(
        f"  {name:<13} {rec['features']:<5} fit {fit_s:6.1f}s  "
        f"NDCG@10 {metrics['NDCG@10']:.4f}  Recall@10 {metrics['Recall@10']:.4f}",
        flush=True,
    )
    return rec


def run_rechub(args, out_dir: Path) -> tuple[list[dict], dict | None, str]:
    """Run the anchor in its venv; returns (model records, MostPopular record, command)."""
    wanted = [RECHUB_MODELS[m] for m in args.models if m in RECHUB_MODELS]
    if not wanted:
        return [], None, ""
    cmd = [
        RECHUB_PYTHON, str(ANCHOR), "--dataset", "ml-100k", "--models", ",".join(wanted),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--dim", str(args.dim), "--seed", str(args.seed), "--out", str(out_dir),
    ]  # fmt: skip
    env = dict(os.environ)
    env.setdefault("SKMATCH_DATA_HOME", str(ROOT.parent.parent / "shared" / "data"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print("running Torch-RecHub:", " ".join(cmd), flush=True)
    with open(out_dir / "anchor.log", "w") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    recs = []
    for m in wanted:
        r = json.loads((out_dir / f"ml-100k_{m}.json").read_text())
        if "error" in r:
            raise RuntimeError(f"Torch-RecHub {m} failed: {r['error']}")
        # mode 0 (pointwise) rows hold 1 positive + neg_ratio sampled negatives
        n_pos = r["n_train_rows"] // (1 + r["neg_ratio"]) if r["mode"] == 0 else r["n_train_rows"]
        train_s = float(r["train_epochs_sum_s"])  # training epochs only (no validation)
        fit_s = float(r["prep_s"]) + train_s
        recs.append(
            {
                "library": "torch-rechub 0.9.0",
                "model": {v: k for k, v in RECHUB_MODELS.items()}[m],
                "features": "side",
                "mode": {0: "pointwise", 1: "pairwise", 2: "listwise"}[r["mode"]],
                "negatives": f"{r['neg_ratio']} sampled (word2vec popularity)",
                "epochs": r["n_epochs"],
                "prep_s": float(r["prep_s"]),
                "train_s": train_s,
                "fit_s": fit_s,
                "n_pos": int(n_pos),
                "n_train_rows": int(r["n_train_rows"]),
                "samples_per_s": n_pos * r["n_epochs"] / fit_s,
                "train_only_samples_per_s": n_pos * r["n_epochs"] / train_s,
                # the median epoch is robust to other processes on a shared machine
                "median_epoch_samples_per_s": n_pos
                / float(np.median([e["train_s"] for e in r["epochs"]])),
                "recommend_s": float(r["infer_s"]) + float(r.get("eval_s", 0.0)),
                "test": r["test"],
                "peak_rss_mib": r.get("peak_rss_mb"),
                "raw": r,
            }
        )
    mp = json.loads((out_dir / "ml-100k_mostpop.json").read_text())
    return recs, mp, " ".join(cmd)


def _warm_up(train2, args) -> None:
    """One untimed short fit, so that torch's first-call costs hit no timed model."""
    from skmatch.models import DSSM

    DSSM(embed_dim=args.dim, batch_size=args.batch_size, n_epochs=1, device="cpu").fit(
        train2.head(5000)
    )


def fmt_row(r: dict) -> list[str]:
    t = r["test"]
    sps = r.get("samples_per_s")
    return [
        r["library"],
        r["model"],
        r["features"],
        str(r["mode"]),
        str(r["epochs"]) if r["epochs"] else "-",
        f"{r['fit_s']:.1f}" if r["fit_s"] is not None else "-",
        f"{sps:,.0f}" if sps else "-",
        f"{t['Recall@10']:.4f}",
        f"{t['NDCG@10']:.4f}",
        f"{t['Recall@20']:.4f}",
        f"{t['NDCG@20']:.4f}",
    ]


HEADER = [
    "library", "model", "features", "mode", "epochs", "fit s", "samples/s",
    "Recall@10", "NDCG@10", "Recall@20", "NDCG@20",
]  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument(
        "--features",
        choices=["side", "ids", "both"],
        default="both",
        help="anchor-mirrored side features, ids only, or both rows per model",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--compare", choices=["torch-rechub"], default=None)
    parser.add_argument("--out", default=str(ROOT / "out"))
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {ALL_MODELS}")

    import torch

    from skmatch.model_selection import leave_last_out_split

    torch.set_num_threads(args.threads)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    df = load_data()
    train1, test = leave_last_out_split(df)
    train2, val = leave_last_out_split(train1)
    n_users, n_items = df["user_id"].nunique(), df["item_id"].nunique()
    print(
        f"ML-100K: {len(df)} interactions, {n_users} users, {n_items} items; "
        f"train {len(train2)}, val {len(val)}, test {len(test)}",
        flush=True,
    )
    variants = ["side", "ids"] if args.features == "both" else [args.features]
    _warm_up(train2, args)
    records = [run_ours("Popularity", "ids", train2, train1, test, args)]
    for name in args.models:
        for variant in variants:
            records.append(run_ours(name, variant, train2, train1, test, args))

    theirs, mostpop, rechub_cmd = [], None, ""
    if args.compare == "torch-rechub":
        theirs, mostpop, rechub_cmd = run_rechub(args, out_dir / f"rechub_{stamp}")

    rows = [fmt_row(r) for r in records]
    if mostpop is not None:
        t = mostpop["test"]
        rows.append(
            ["torch-rechub 0.9.0 (anchor)", "MostPopular", "-", "-", "-", "-", "-"]
            + [f"{t[m]:.4f}" for m in ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20")]
        )
    rows += [fmt_row(r) for r in theirs]
    table = markdown_table(HEADER, rows)

    ratio_table = ""
    if theirs:
        ours = {(r["model"], r["features"]): r for r in records}
        ratio_rows = []
        for r in theirs:
            for variant in variants:
                o = ours.get((r["model"], variant))
                if o is None:
                    continue
                ratio_rows.append(
                    [
                        r["model"],
                        variant,
                        f"{o['test']['NDCG@10'] / r['test']['NDCG@10']:.2f}",
                        f"{o['samples_per_s'] / r['samples_per_s']:.2f}",
                        f"{o['samples_per_s'] / r['train_only_samples_per_s']:.2f}",
                        f"{o['samples_per_s'] / r['median_epoch_samples_per_s']:.2f}",
                    ]
                )
        ratio_table = markdown_table(
            [
                "model",
                "our features",
                "NDCG@10 ours/theirs",
                "samples/s ours/theirs",
                "samples/s ours / theirs (training epochs only)",
                "samples/s ours / theirs (median epoch)",
            ],
            ratio_rows,
        )

    import skmatch

    info = (
        f"Machine: {machine()}; torch {torch.__version__} ({args.threads} threads), "
        f"skmatch {getattr(skmatch, '__version__', '?')}; {today()}\n"
        f"Command: `SKMATCH_DATA_HOME={os.environ.get('SKMATCH_DATA_HOME', '')} "
        f"{command_line()}`"
    )
    if rechub_cmd:
        info += f"\nTorch-RecHub command: `{rechub_cmd}`"
    print()
    print(table)
    if ratio_table:
        print()
        print(ratio_table)
    print()
    print(info)
    result = {
        "args": {k: v for k, v in vars(args).items()},
        "machine": machine(),
        "torch": torch.__version__,
        "date": today(),
        "command": command_line(),
        "rechub_command": rechub_cmd,
        "split": {"train": len(train2), "val": len(val), "test": len(test)},
        "ours": records,
        "theirs": theirs,
        "rechub_mostpop": mostpop,
        "table": table,
        "ratios": ratio_table,
    }
    path = out_dir / f"two_tower_{stamp}.json"
    path.write_text(json.dumps(result, indent=1, default=_json_default))
    print(f"JSON: {path}")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


if __name__ == "__main__":
    main()
