"""One protocol, all twelve models: the benchmark table of skmatch.

Run from the repository root::

    SKMATCH_DATA_HOME=/work/shared/data python -m benchmarks.run --dataset ml-100k --models all
    python -m benchmarks.run --dataset ml-100k --models SASRec,ComirecSA --epochs 5
    python -m benchmarks.run --dataset ml-100k --models all --compare torch-rechub --plot

Protocol: each user's interactions sorted by (timestamp, row order); the last item is the
test target, the one before it the validation target, the rest (``train2``) is what models
are fitted on. Test ranking: each user embedded from ``train2`` + validation item, which are
excluded from a full ranking over all items (exact search); Recall@10/20, NDCG@10/20,
MRR@10 averaged over all users, coverage@10 over the catalogue. Seeds fixed
(``--seed``); ids only (no side features); ``embed_dim=64``.

Every model runs in its own subprocess, one after another (never two at once), so that
its peak RSS is its own. Hyperparameters: each model's defaults, plus the history window
``max_seq_len`` chosen on the validation split (the event after ``train2``, ranked with
the user embedded from ``train2``): ``--tune`` fits every candidate of ``GRID`` and keeps
the best by validation NDCG@10; without it the values ``CHOSEN`` (recorded from a
``--tune`` run on that dataset, see docs/benchmarks.md) are used. The test split is never
used for any choice.

Output: a Markdown table (stdout and ``--out``/run_<dataset>_<time>.md) and a JSON file of
the raw figures; ``--plot`` also saves NDCG@10 against fit seconds (matplotlib).
``--compare torch-rechub`` then runs ``../shared/tools/rechub_anchor.py`` (Torch-RecHub
0.9.0 in its own venv, never a dependency) on the same split and embedding size, with
``--epochs`` (10 by default; the anchor's SASRec keeps its own 200) and each library's own
batch sizes, and adds its rows and the ours/theirs ratios (the anchor supports ml-100k and
beauty; its MRR is not @10, and its peak RSS is that of its one process for all models).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RECHUB_PYTHON, command_line, machine, markdown_table, today  # noqa: E402
from sequential import sasrec_positives  # noqa: E402

MODELS = (
    "DSSM", "FaceBookDSSM", "YoutubeDNN", "YoutubeSBC",
    "GRU4Rec", "NARM", "SASRec", "STAMP",
    "MIND", "ComirecDR", "ComirecSA", "SINE",
)  # fmt: skip
# epochs per model: window-trained models (every position per pass) take more passes
EPOCHS = {m: 10 for m in MODELS} | {"GRU4Rec": 50, "NARM": 50, "SASRec": 50}
GRID = {"max_seq_len": (20, 50)}
# SASRec's paper suggests dropout 0.5 on sparse data (Beauty) and 0.2 on dense (MovieLens)
GRID_EXTRA = {"SASRec": {"dropout": (0.2, 0.5)}}
# chosen by validation NDCG@10 with --tune (H100 runs of 2026-11-22, records in
# benchmarks/results/records/; the validation scores are in docs/benchmarks.md)
CHOSEN: dict[str, dict[str, dict]] = {
    "ml-100k": {
        **{m: {"max_seq_len": 20} for m in MODELS},
        "SASRec": {"max_seq_len": 20, "dropout": 0.5},
        "STAMP": {"max_seq_len": 50},
        "MIND": {"max_seq_len": 50},
    },
    "beauty": {
        **{m: {"max_seq_len": 20} for m in MODELS},
        "FaceBookDSSM": {"max_seq_len": 50},
        "YoutubeSBC": {"max_seq_len": 50},
        "GRU4Rec": {"max_seq_len": 50},
        "SASRec": {"max_seq_len": 20, "dropout": 0.5},
        "ComirecSA": {"max_seq_len": 50},
    },
}
DEFAULT_SEQ = 50
RECHUB = {
    "DSSM": "dssm", "YoutubeDNN": "youtubednn", "GRU4Rec": "gru4rec_fixed", "NARM": "narm",
    "SASRec": "sasrec", "STAMP": "stamp", "MIND": "mind", "ComirecSA": "comirecsa",
}  # fmt: skip
RECHUB_MISSING = {
    "FaceBookDSSM": "the anchor does not run Torch-RecHub's FaceBookDSSM",
    "YoutubeSBC": "the anchor does not run Torch-RecHub's YoutubeSBC",
    "ComirecDR": "the anchor does not run Torch-RecHub's ComirecDR",
    "SINE": "the anchor does not run Torch-RecHub's SINE",
}
KS = (10, 20)


# ----------------------------------------------------------------------------- data
def load(dataset: str):
    if dataset in ("ml-100k", "ml-1m"):
        from skmatch.datasets import load_movielens

        return load_movielens(dataset[3:])[["user_id", "item_id", "timestamp"]]
    from skmatch.datasets import load_amazon_beauty

    return load_amazon_beauty()[["user_id", "item_id", "timestamp"]]


def splits(dataset: str):
    from skmatch.model_selection import leave_last_out_split

    df = load(dataset)
    train1, test = leave_last_out_split(df)
    train2, val = leave_last_out_split(train1)
    return df, train2, val, train1, test


def ranking_metrics(model, history, target, n_items: int) -> dict:
    """Metrics of ``target`` (one row per user) ranked with users embedded from ``history``."""
    from skmatch.metrics import coverage, mrr_at_k, ndcg_at_k, recall_at_k

    history = history[history["user_id"].isin(target["user_id"])]  # users with a target
    ids = model.recommend(history, k=max(KS), return_scores=False)
    users = history["user_id"].unique()  # recommend's row order: first appearance
    y = target.set_index("user_id")["item_id"].loc[users].to_numpy()
    out = {}
    for k in KS:
        out[f"Recall@{k}"] = float(recall_at_k(y, ids, k))
        out[f"NDCG@{k}"] = float(ndcg_at_k(y, ids, k))
    out["MRR@10"] = float(mrr_at_k(y, ids, 10))
    out["coverage@10"] = float(coverage(ids, n_items, k=10))
    return out


# ----------------------------------------------------------------------------- one model
def grid_candidates(name: str, override: dict | None = None) -> list[dict]:
    """Every combination of the model's grid (``override`` replaces its axes)."""
    axes = {**GRID, **GRID_EXTRA.get(name, {}), **(override or {})}
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def fit_one(name: str, params: dict, train2, args):
    import skmatch.models as models
    from skmatch import FeatureSpec

    spec = FeatureSpec(max_seq_len=params.get("max_seq_len", DEFAULT_SEQ))
    extra = {k: v for k, v in params.items() if k != "max_seq_len"}
    t0 = time.perf_counter()
    inter = spec.fit_transform(train2)
    if name == "Popularity":
        model = models.Popularity()
    else:
        model = getattr(models, name)(
            embed_dim=args.dim,
            n_epochs=args.epochs or EPOCHS[name],
            random_state=args.seed,
            device=args.device,
            **({"amp": True} if args.amp else {}),
            **extra,
        )
    model.fit(inter)
    return model, time.perf_counter() - t0


def run_one(name: str, args) -> dict:
    """Fit (selecting on validation with --tune), evaluate on test; a record."""
    import resource

    import torch

    torch.set_num_threads(args.threads)
    df, train2, val, train1, test = splits(args.dataset)
    n_items = df["item_id"].nunique()
    if name == "Popularity" or not args.tune:
        candidates = [CHOSEN.get(args.dataset, {}).get(name, {})]
    else:
        candidates = grid_candidates(name, args.grid)
    best, tried = None, []
    for params in candidates:
        model, fit_s = fit_one(name, params, train2, args)
        val_ndcg = ranking_metrics(model, train2, val, n_items)["NDCG@10"]
        tried.append({"params": params, "val_NDCG@10": val_ndcg, "fit_s": fit_s})
        if best is None or val_ndcg > best[2]:
            best = (model, params, val_ndcg, fit_s)
    model, params, val_ndcg, fit_s = best
    metrics = ranking_metrics(model, train1, test, n_items)
    epochs = getattr(model, "n_iter_", 0)
    return {
        "library": "skmatch",
        "model": name,
        "params": {"max_seq_len": params.get("max_seq_len", DEFAULT_SEQ), **params},
        "tried": tried,
        "val_NDCG@10": val_ndcg,
        "epochs": epochs,
        "batch_size": getattr(model, "batch_size", None),
        "fit_s": fit_s,
        "n_pos": len(train2),
        "samples_per_s": len(train2) * epochs / fit_s if epochs else None,
        "test": metrics,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine(),
        "device": torch.cuda.get_device_name() if model_on_cuda(model) else "cpu",
        "amp": bool(args.amp),
        "threads": torch.get_num_threads(),
    }


def model_on_cuda(model) -> bool:
    return str(getattr(model, "device_", "cpu")).startswith("cuda")


def run_in_subprocess(name: str, args, out_dir: Path) -> dict:
    path = out_dir / f"{args.dataset}_{name}.json"
    cmd = [sys.executable, "-m", "benchmarks.run", "--one", name, "--record", str(path)]
    cmd += ["--dataset", args.dataset, "--dim", str(args.dim), "--seed", str(args.seed)]
    cmd += ["--threads", str(args.threads), "--device", args.device]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.tune:
        cmd += ["--tune"]
    if args.amp:
        cmd += ["--amp"]
    if args.grid:
        cmd += ["--grid", json.dumps(args.grid)]
    done = subprocess.run(cmd, cwd=HERE.parent)
    if done.returncode != 0 or not path.exists():  # one failure never loses the others
        return {"library": "skmatch", "model": name, "error": f"exit {done.returncode}"}
    return json.loads(path.read_text())


def fitted_on(records: list[dict]) -> set[str]:
    """Where the records were fitted (``machine`` is recorded since 2026-11-22)."""
    return {r["machine"] for r in records if r.get("machine")} or {"not recorded (see Device)"}


def from_records(name: str, args) -> dict:
    """The best-validation record of ``name`` among ``--from`` runs; every fit tried listed."""
    paths = [Path(d) / f"{args.dataset}_{name}.json" for d in args.from_dirs]
    recs = [json.loads(p.read_text()) for p in paths if p.exists()]
    if not recs:
        return {"library": "skmatch", "model": name, "error": "no record in --from"}
    best = max(recs, key=lambda r: r["val_NDCG@10"])
    return {**best, "tried": [t for r in recs for t in r["tried"]]}


# ----------------------------------------------------------------------------- Torch-RecHub
def run_rechub(args, names: list[str], out_dir: Path) -> tuple[list[dict], str]:
    anchor = Path(
        os.environ.get("RECHUB_ANCHOR", HERE.parents[1] / "shared" / "tools" / "rechub_anchor.py")
    )
    wanted = [RECHUB[m] for m in names if m in RECHUB]
    if not wanted:
        return [], ""
    cmd = [RECHUB_PYTHON, str(anchor), "--dataset", args.dataset, "--models", ",".join(wanted),
           "--epochs", str(args.epochs or 10), "--dim", str(args.dim), "--seed", str(args.seed),
           "--out", str(out_dir)]  # fmt: skip
    env = dict(os.environ)
    env.setdefault("SKMATCH_DATA_HOME", str(HERE.parents[1] / "shared" / "data"))
    if not Path(RECHUB_PYTHON).exists():
        note = f"no Torch-RecHub venv at {RECHUB_PYTHON} (set RECHUB_PYTHON)"
        return [{"model": m, "error": note} for m in names if m in RECHUB], " ".join(cmd)
    with open(out_dir / "anchor.log", "w") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    train2 = splits(args.dataset)[1]
    back = {v: k for k, v in RECHUB.items()}
    recs = []
    for m in wanted:
        path = out_dir / f"{args.dataset}_{m}.json"
        if not path.exists():
            recs.append({"model": back[m], "error": "no output (see anchor.log)"})
            continue
        r = json.loads(path.read_text())
        if "error" in r:
            recs.append({"model": back[m], "error": str(r["error"])[:200]})
            continue
        fit_s = float(r["prep_s"]) + float(r["train_epochs_sum_s"])
        # their SASRec trains one row per user, every position of it a positive
        n_pos = sasrec_positives(train2, r["seq_len"]) if m == "sasrec" else r["n_train_rows"]
        recs.append(
            {
                "library": "torch-rechub 0.9.0",
                "model": back[m],
                "epochs": r["n_epochs"],
                "batch_size": r.get("batch_size"),
                "fit_s": fit_s,
                "n_pos": n_pos,
                "samples_per_s": n_pos * r["n_epochs"] / fit_s,
                "test": r["test"],
                "peak_rss_mib": r.get("peak_rss_mb"),
            }
        )
    return recs, " ".join(cmd)


# ----------------------------------------------------------------------------- report
HEADER = ["library", "model", "epochs", "max_seq_len", "Recall@10", "NDCG@10", "Recall@20",
          "NDCG@20", "MRR@10", "coverage@10", "fit s", "samples/s", "peak RSS MiB"]  # fmt: skip


def _f(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def row(r: dict) -> list[str]:
    t = r["test"]
    return [
        r["library"],
        r["model"],
        str(r["epochs"] or "-"),
        str(r.get("params", {}).get("max_seq_len", "-")),
        *(_f(t.get(m), ".4f") for m in ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20")),
        _f(t.get("MRR@10"), ".4f"),
        _f(t.get("coverage@10"), ".3f"),
        _f(r["fit_s"], ".1f"),
        _f(r["samples_per_s"], ",.0f"),
        _f(r.get("peak_rss_mib"), ".0f"),
    ]


def notes(ours: list[dict], theirs: list[dict]) -> list[str]:
    pop = next((r["test"]["NDCG@10"] for r in ours if r["model"] == "Popularity"), None)
    if pop is None:
        return ["- Popularity failed: no ratios"]
    by = {r["model"]: r for r in theirs}
    lines = []
    for r in ours:
        if r["model"] == "Popularity":
            continue
        n = r["test"]["NDCG@10"]
        tried = "; ".join(
            ", ".join(f"{k}={v}" for k, v in (t["params"] or {"max_seq_len": DEFAULT_SEQ}).items())
            + f": {t['val_NDCG@10']:.4f}"
            for t in r["tried"]
        )
        line = (
            f"- {r['model']}: NDCG@10 {n / pop:.2f}x Popularity"
            f" ({'>=' if n >= pop else 'BELOW'}); validation NDCG@10 {tried}"
        )
        t = by.get(r["model"])
        if t is not None and "error" not in t:
            line += (
                f"; vs Torch-RecHub NDCG@10 {n / t['test']['NDCG@10']:.2f}x, "
                f"samples/s {r['samples_per_s'] / t['samples_per_s']:.2f}x"
            )
        elif t is not None:
            line += f"; Torch-RecHub failed: {t['error']}"
        elif theirs and r["model"] in RECHUB_MISSING:
            line += f"; no Torch-RecHub row: {RECHUB_MISSING[r['model']]}"
        lines.append(line)
    return lines


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in records:
        if r.get("fit_s") is None or "test" not in r:
            continue
        marker = "o" if r["library"] == "skmatch" else "x"
        ax.scatter(r["fit_s"], r["test"]["NDCG@10"], marker=marker)
        ax.annotate(r["model"], (r["fit_s"], r["test"]["NDCG@10"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("fit seconds (log)")
    ax.set_ylabel("NDCG@10")
    ax.set_title("NDCG@10 against fit time (o skmatch, x Torch-RecHub)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["ml-100k", "beauty", "ml-1m"], default="ml-100k")
    p.add_argument("--models", default="all", help='"all" or comma-separated names')
    p.add_argument("--epochs", type=int, default=None, help="all models (default: EPOCHS)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="amp=True: bfloat16 autocast, CPU too")
    p.add_argument("--tune", action="store_true", help="choose max_seq_len on validation")
    p.add_argument("--grid", type=json.loads, default=None,
                   help='with --tune, replace grid axes, e.g. \'{"dropout": [0.5]}\'')
    p.add_argument("--from", dest="from_dirs", nargs="+", default=None, metavar="DIR",
                   help="build the table from the per-model records of earlier runs (the "
                        "best validation record per model), fitting nothing")
    p.add_argument("--compare", choices=["torch-rechub"], default=None)
    p.add_argument("--plot", action="store_true")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--record", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:  # child process: one model, one JSON record
        Path(args.record).write_text(json.dumps(run_one(args.one, args), indent=1))
        return
    args.out = str(Path(args.out).resolve())  # the children run from the repository root
    names = list(MODELS) if args.models == "all" else [m.strip() for m in args.models.split(",")]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {MODELS}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) / f"run_{args.dataset}_{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ours = []
    for name in ["Popularity", *names]:
        r = from_records(name, args) if args.from_dirs else run_in_subprocess(name, args, out_dir)
        ours.append(r)
        if "error" in r:
            print(f"  {name:<13} FAILED ({r['error']})", flush=True)
            continue
        print(f"  {name:<13} NDCG@10 {r['test']['NDCG@10']:.4f}  fit {r['fit_s']:.1f}s", flush=True)
    total_s = time.perf_counter() - t0
    if args.from_dirs:  # the fits' own time, not this assembly's
        total_s = sum(t["fit_s"] for r in ours if "tried" in r for t in r["tried"])
    theirs, rechub_cmd = [], ""
    if args.compare == "torch-rechub":  # after ours: never two heavy jobs at once
        theirs, rechub_cmd = run_rechub(args, names, out_dir)
    ok = [r for r in ours if "test" in r]
    table = markdown_table(HEADER, [row(r) for r in ok + [t for t in theirs if "test" in t]])
    text = "\n".join(
        [
            f"## {args.dataset}: {len(names)} models and Popularity",
            "",
            table,
            "",
            *notes(ok, theirs),
            *(f"- {r['model']}: FAILED ({r['error']})" for r in ours if "error" in r),
            "",
            (
                f"Ours: {total_s / 60:.1f} min of fitting in all, assembled from "
                f"{', '.join(args.from_dirs)}."
                if args.from_dirs
                else f"Ours in {total_s / 60:.1f} min (every fit, validation and test ranking)."
            ),
            *(
                [f"Fitted on: {', '.join(sorted(fitted_on(ok)))}; assembled {today()}"]
                if args.from_dirs
                else [f"Machine: {machine()}; {today()}"]
            ),
            *sorted({f"Device: {r['device']}" for r in ok if r.get("device", "cpu") != "cpu"}),
            f"Command: `{command_line()}`",
            *([f"Torch-RecHub: `{rechub_cmd}`"] if rechub_cmd else []),
        ]
    )
    print()
    print(text)
    (out_dir / "table.md").write_text(text + "\n")
    raw = {"args": vars(args), "ours": ours, "theirs": theirs, "total_s": total_s}
    (out_dir / "results.json").write_text(json.dumps(raw, indent=1))
    if args.plot:
        plot(ours + theirs, out_dir / "ndcg_vs_fit_time.png")
    print(f"\nWritten to {out_dir}")


if __name__ == "__main__":
    main()
