"""Sequential models of skmatch (GRU4Rec, NARM, SASRec, STAMP), optionally against Torch-RecHub.

Run by hand from the repository root (prints Markdown tables, writes JSON to
``benchmarks/out/``)::

    SKMATCH_DATA_HOME=/work/shared/data python benchmarks/sequential.py \\
        --dataset ml-100k --compare torch-rechub
    SKMATCH_DATA_HOME=/work/shared/data python benchmarks/sequential.py \\
        --dataset beauty --epoch-time-only

Protocol (identical to ``/work/shared/tools/rechub_anchor.py`` and
``benchmarks/two_tower.py``): each user's interactions sorted by (timestamp, row order); the
last item is the test target, the one before it the validation target, the rest is training.
Models are fitted on the training rows only (``train2``); for the test ranking each user is
embedded from training + validation items (``train1``), which are excluded from a full
ranking over all items; Recall@10/20 and NDCG@10/20 averaged over all users.

Ours: ``embed_dim=64``, ``FeatureSpec(max_seq_len=50)``, ids only, each model's default
batch size (GRU4Rec/NARM/SASRec: 128 history windows; STAMP: 256 rows) and otherwise its
defaults; SASRec ``dropout=0.5`` on Beauty. Epochs: GRU4Rec, NARM and SASRec train on whole
history windows (every position per pass, few steps per epoch), 50 epochs; STAMP trains one
example per interaction, 10 epochs.

``--compare torch-rechub`` runs the anchor (``sasrec,narm,stamp,gru4rec_fixed``) in
``/work/.venv-rechub`` in a subprocess AFTER ours have finished (never concurrently) with its
own defaults (per-model batch sizes, SASRec 200 epochs) and ``--epochs 10``, and adds its rows
and ours/theirs ratios.

``--epoch-time-only`` fits each of our models for one epoch and reports seconds per epoch
(no ranking metrics), for datasets too large to train fully on a small machine.
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
from two_tower import _json_default, test_metrics

ROOT = Path(__file__).resolve().parent
ANCHOR = Path(
    os.environ.get("RECHUB_ANCHOR", ROOT.parents[1] / "shared" / "tools" / "rechub_anchor.py")
)
ALL_MODELS = ("GRU4Rec", "NARM", "SASRec", "STAMP")
RECHUB_MODELS = {"SASRec": "sasrec", "NARM": "narm", "STAMP": "stamp", "GRU4Rec": "gru4rec_fixed"}
DEFAULT_EPOCHS = {"GRU4Rec": 50, "SASRec": 50, "NARM": 50, "STAMP": 10}
SEQ_LEN = 50


def load_data(dataset: str):
    if dataset == "ml-100k":
        from skmatch.datasets import load_movielens

        return load_movielens("100k")[["user_id", "item_id", "timestamp"]]
    from skmatch.datasets import load_amazon_beauty

    return load_amazon_beauty()


def make_model(name: str, epochs: int, args):
    import skmatch.models as models

    if name == "Popularity":
        return models.Popularity()
    kw = dict(embed_dim=args.dim, n_epochs=epochs, random_state=args.seed, device=args.device)
    if name == "SASRec" and args.dataset == "beauty":
        kw["dropout"] = 0.5
    return getattr(models, name)(**kw)


def fit_ours(name: str, epochs: int, train2, args):
    """(model, prep seconds, training seconds): FeatureSpec.fit_transform + model.fit."""
    from skmatch import FeatureSpec

    spec = FeatureSpec(max_seq_len=SEQ_LEN)
    t0 = time.perf_counter()
    inter = spec.fit_transform(train2)
    prep_s = time.perf_counter() - t0
    model = make_model(name, epochs, args)
    t0 = time.perf_counter()
    model.fit(inter)
    return model, prep_s, time.perf_counter() - t0


def run_ours(name: str, train2, train1, test, args) -> dict:
    epochs = 0 if name == "Popularity" else args.epochs[name]
    model, prep_s, train_s = fit_ours(name, epochs, train2, args)
    metrics, rec_s = test_metrics(model, train1, test)
    fit_s = prep_s + train_s
    rec = {
        "library": "skmatch",
        "model": name,
        "epochs": epochs,
        "batch_size": getattr(model, "batch_size", None),
        "dropout": getattr(model, "dropout", None),
        "negatives": getattr(model, "negatives", "-"),
        "device": str(getattr(model, "device_", "cpu")),
        "prep_s": prep_s,
        "train_s": train_s,
        "fit_s": fit_s,
        "s_per_epoch": train_s / epochs if epochs else None,
        "n_pos": len(train2),
        "samples_per_s": len(train2) * epochs / fit_s if epochs else None,
        "recommend_s": rec_s,
        "test": metrics,
        "peak_rss_mib": peak_rss_mib(),
    }
    if hasattr(model, "loss_curve_"):
        rec["loss_curve"] = [float(x) for x in model.loss_curve_]
    print(
        f"  {name:<10} fit {fit_s:6.1f}s  NDCG@10 {metrics['NDCG@10']:.4f}  "
        f"Recall@10 {metrics['Recall@10']:.4f}",
        flush=True,
    )
    return rec


def sasrec_positives(train2, seq_len: int) -> int:
    """Target positions the anchor's SASRec trains per epoch: its one row per user holds
    ``train[:-1] -> train[1:]`` truncated to the most recent ``seq_len`` (post-padded)."""
    n = train2.groupby("user_id").size().to_numpy()
    return int(np.minimum(np.maximum(n - 1, 0), seq_len).sum())


def run_rechub(
    args, train2, out_dir: Path, mapping: dict | None = None
) -> tuple[list[dict], dict | None, str]:
    """Run the anchor in its venv; returns (model records, MostPopular record, command).

    ``mapping``: our model name -> the anchor's (default: the sequential models).
    """
    mapping = RECHUB_MODELS if mapping is None else mapping
    wanted = [mapping[m] for m in args.models if m in mapping]
    if not wanted:
        return [], None, ""
    cmd = [
        RECHUB_PYTHON, str(ANCHOR), "--dataset", args.dataset, "--models", ",".join(wanted),
        "--epochs", str(args.rechub_epochs), "--dim", str(args.dim), "--seed", str(args.seed),
        "--out", str(out_dir),
    ]  # fmt: skip
    if args.rechub_sasrec_epochs is not None:
        cmd += ["--sasrec-epochs", str(args.rechub_sasrec_epochs)]
    env = dict(os.environ)
    env.setdefault("SKMATCH_DATA_HOME", str(ROOT.parent.parent / "shared" / "data"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print("running Torch-RecHub:", " ".join(cmd), flush=True)
    with open(out_dir / "anchor.log", "w") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    names = {v: k for k, v in mapping.items()}
    recs = []
    for m in wanted:
        r = json.loads((out_dir / f"{args.dataset}_{m}.json").read_text())
        if "error" in r:
            raise RuntimeError(f"Torch-RecHub {m} failed: {r['error']}")
        # n_train_rows: NARM/STAMP/GRU4Rec (mode 2, listwise) one row per positive;
        # SASRec one row per user, every non-padded position of it a positive
        n_pos = sasrec_positives(train2, r["seq_len"]) if m == "sasrec" else r["n_train_rows"]
        train_s = float(r["train_epochs_sum_s"])  # training epochs only (no validation)
        fit_s = float(r["prep_s"]) + train_s
        recs.append(
            {
                "library": "torch-rechub 0.9.0",
                "model": names[m],
                "anchor_model": m,
                "epochs": r["n_epochs"],
                "batch_size": r.get("batch_size"),
                "dropout": r.get("dropout"),
                "prep_s": float(r["prep_s"]),
                "train_s": train_s,
                "fit_s": fit_s,
                "s_per_epoch": float(r["s_per_epoch"]),
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
    mp = json.loads((out_dir / f"{args.dataset}_mostpop.json").read_text())
    return recs, mp, " ".join(cmd)


def _warm_up(train2, args) -> None:
    """Untimed 1-epoch fits on a few users, so torch's first-call costs hit no timed model."""
    users = train2["user_id"].drop_duplicates().head(50)
    small = train2[train2["user_id"].isin(users)]
    for name in args.models:
        fit_ours(name, 1, small, args)


def fmt_row(r: dict) -> list[str]:
    t = r["test"]
    sps = r.get("samples_per_s")
    spe = r.get("s_per_epoch")
    return [
        r["library"],
        r["model"],
        str(r["epochs"]) if r["epochs"] else "-",
        f"{r['fit_s']:.1f}" if r["fit_s"] is not None else "-",
        f"{spe:.2f}" if spe else "-",
        f"{sps:,.0f}" if sps else "-",
        f"{t['Recall@10']:.4f}",
        f"{t['NDCG@10']:.4f}",
        f"{t['Recall@20']:.4f}",
        f"{t['NDCG@20']:.4f}",
    ]


HEADER = [
    "library", "model", "epochs", "fit s", "s/epoch", "samples/s",
    "Recall@10", "NDCG@10", "Recall@20", "NDCG@20",
]  # fmt: skip


def epoch_time_only(train2, args) -> tuple[str, list[dict]]:
    """Fit each model for one epoch; a table of seconds per epoch."""
    recs, rows = [], []
    for name in args.models:
        model, prep_s, train_s = fit_ours(name, 1, train2, args)
        rec = {
            "model": name,
            "batch_size": model.batch_size_,
            "dropout": model.dropout,
            "prep_s": prep_s,
            "s_per_epoch": train_s,
            "samples_per_s_1_epoch": len(train2) / (prep_s + train_s),
            "loss": float(model.loss_curve_[0]),
            "peak_rss_mib": peak_rss_mib(),
        }
        recs.append(rec)
        print(f"  {name:<10} 1 epoch {train_s:6.1f}s (prep {prep_s:.1f}s)", flush=True)
        rows.append(
            [
                name,
                str(model.batch_size),
                f"{model.dropout:g}",
                f"{prep_s:.2f}",
                f"{train_s:.1f}",
                f"{rec['samples_per_s_1_epoch']:,.0f}",
                f"{args.epochs[name]}",
                f"{args.epochs[name] * train_s / 60:.0f}",
            ]
        )
    header = [
        "model", "batch", "dropout", "prep s", "s/epoch", "samples/s (1 epoch)",
        "default epochs", "est. min for default epochs",
    ]  # fmt: skip
    return markdown_table(header, rows), recs


def targets_check(records: list[dict], theirs: list[dict]) -> str:
    """Plain PASS/FAIL lines for the targets (NDCG@10 vs Popularity and Torch-RecHub,
    samples/s vs Torch-RecHub)."""
    pop = next(r for r in records if r["model"] == "Popularity")["test"]["NDCG@10"]
    by_model = {r["model"]: r for r in theirs}
    lines = []
    for r in records:
        if r["model"] == "Popularity":
            continue
        n = r["test"]["NDCG@10"]
        ok = n >= 1.6 * pop
        lines.append(
            f"- {r['model']}: NDCG@10 {n:.4f} vs 1.6 x Popularity = {1.6 * pop:.4f} "
            f"({n / pop:.2f}x): {'PASS' if ok else 'FAIL'}"
        )
        t = by_model.get(r["model"])
        if t is None:
            continue
        tn = t["test"]["NDCG@10"]
        lines.append(
            f"- {r['model']}: NDCG@10 {n:.4f} vs Torch-RecHub {tn:.4f} "
            f"({n / tn:.2f}x): {'PASS' if n >= tn else 'FAIL'}"
        )
        ratio = r["samples_per_s"] / t["samples_per_s"]
        lines.append(
            f"- {r['model']}: samples/s {r['samples_per_s']:,.0f} vs Torch-RecHub "
            f"{t['samples_per_s']:,.0f} ({ratio:.2f}x, target >= 5x): "
            f"{'PASS' if ratio >= 5 else 'FAIL'}"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ml-100k", "beauty"], default="ml-100k")
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--device", default="auto", help='"auto", "cpu", "cuda", ...')
    parser.add_argument("--seed", type=int, default=2022)
    for name, n in DEFAULT_EPOCHS.items():
        parser.add_argument(f"--{name.lower()}-epochs", type=int, default=n)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--epoch-time-only", action="store_true")
    parser.add_argument("--compare", choices=["torch-rechub"], default=None)
    parser.add_argument("--rechub-epochs", type=int, default=10, help="anchor --epochs")
    parser.add_argument(
        "--rechub-sasrec-epochs", type=int, default=None, help="anchor --sasrec-epochs"
    )
    parser.add_argument("--out", default=str(ROOT / "out"))
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {ALL_MODELS}")
    args.epochs = {m: getattr(args, f"{m.lower()}_epochs") for m in ALL_MODELS}

    import torch

    import skmatch
    from skmatch.model_selection import leave_last_out_split

    torch.set_num_threads(args.threads)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    df = load_data(args.dataset)
    train1, test = leave_last_out_split(df)
    train2, val = leave_last_out_split(train1)
    n_users, n_items = df["user_id"].nunique(), df["item_id"].nunique()
    print(
        f"{args.dataset}: {len(df)} interactions, {n_users} users, {n_items} items; "
        f"train {len(train2)}, val {len(val)}, test {len(test)}",
        flush=True,
    )
    info = (
        f"Machine: {machine()}; torch {torch.__version__} ({args.threads} threads), "
        f"skmatch {getattr(skmatch, '__version__', '?')}; {today()}\n"
        f"Command: `SKMATCH_DATA_HOME={os.environ.get('SKMATCH_DATA_HOME', '')} "
        f"{command_line()}`"
    )
    _warm_up(train2, args)
    result = {
        "args": {k: v for k, v in vars(args).items()},
        "machine": machine(),
        "torch": torch.__version__,
        "date": today(),
        "command": command_line(),
        "split": {"train": len(train2), "val": len(val), "test": len(test)},
    }

    if args.epoch_time_only:
        table, recs = epoch_time_only(train2, args)
        print()
        print(table)
        print()
        print(info)
        result.update(ours=recs, table=table)
        path = out_dir / f"sequential_{args.dataset}_epoch_time_{stamp}.json"
        path.write_text(json.dumps(result, indent=1, default=_json_default))
        print(f"JSON: {path}")
        return

    records = [run_ours("Popularity", train2, train1, test, args)]
    for name in args.models:
        records.append(run_ours(name, train2, train1, test, args))

    theirs, mostpop, rechub_cmd = [], None, ""
    if args.compare == "torch-rechub":  # strictly after ours: never two heavy jobs at once
        theirs, mostpop, rechub_cmd = run_rechub(args, train2, out_dir / f"rechub_{stamp}")

    rows = [fmt_row(r) for r in records]
    if mostpop is not None:
        t = mostpop["test"]
        rows.append(
            ["torch-rechub 0.9.0 (anchor)", "MostPopular", "-", "-", "-", "-"]
            + [f"{t[m]:.4f}" for m in ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20")]
        )
    rows += [fmt_row(r) for r in theirs]
    table = markdown_table(HEADER, rows)

    ratio_table = ""
    if theirs:
        ours = {r["model"]: r for r in records}
        ratio_rows = []
        for r in theirs:
            o = ours.get(r["model"])
            if o is None:
                continue
            ratio_rows.append(
                [
                    r["model"],
                    r["anchor_model"],
                    f"{r['n_pos']:,}",
                    f"{o['test']['NDCG@10'] / r['test']['NDCG@10']:.2f}",
                    f"{o['samples_per_s'] / r['samples_per_s']:.2f}",
                    f"{o['samples_per_s'] / r['train_only_samples_per_s']:.2f}",
                    f"{o['samples_per_s'] / r['median_epoch_samples_per_s']:.2f}",
                ]
            )
        ratio_table = markdown_table(
            [
                "model",
                "anchor model",
                "their positives / epoch",
                "NDCG@10 ours/theirs",
                "samples/s ours/theirs",
                "samples/s ours / theirs (training epochs only)",
                "samples/s ours / theirs (median epoch)",
            ],
            ratio_rows,
        )
    checks = targets_check(records, theirs)
    if rechub_cmd:
        info += f"\nTorch-RecHub command: `{rechub_cmd}`"
    print()
    print(table)
    if ratio_table:
        print()
        print(ratio_table)
    print()
    print(checks)
    print()
    print(info)
    result.update(
        rechub_command=rechub_cmd,
        ours=records,
        theirs=theirs,
        rechub_mostpop=mostpop,
        table=table,
        ratios=ratio_table,
        checks=checks,
    )
    path = out_dir / f"sequential_{args.dataset}_{stamp}.json"
    path.write_text(json.dumps(result, indent=1, default=_json_default))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
