"""What a user who never tunes gets: every model fitted with its defaults.

Run from the repository root::

    SKMATCH_DATA_HOME=/work/shared/data python -m benchmarks.defaults --dataset ml-100k
    python -m benchmarks.defaults --dataset beauty --models SASRec,GRU4Rec
    python -m benchmarks.defaults --dataset ml-100k --models SASRec --set dropout=0.5 \
        --spec max_seq_len=20          # an exploration, labelled as such in the table

Protocol: that of ``benchmarks.run`` (each user's last event is the test target, the one
before it the validation target; models are fitted on the rest, ``train2``, and rank the
test event with the user embedded from ``train2`` + the validation event, seen items
excluded, full catalogue, exact search). ``Model(random_state=0).fit(train2)`` on the raw
frame (ids only), on the CPU: nothing else is set, unless ``--set`` / ``--spec`` say so
(then the table says so). Every model runs in its own subprocess, one after another.

The table gives NDCG@10 and Recall@10, the ratio to Popularity, the best NDCG@10 the same
model reaches anywhere in ``docs/benchmarks.md`` (``BEST``, ids only and with side
features) and the share of it reached, fit seconds, epochs run and the best epoch.
``--trace`` also records, after every epoch, the seconds of training so far and the test
NDCG@10 (what ``benchmarks.time_to_quality`` reads); the evaluation's own time is not
counted, but the fit seconds of a traced run are not those of a plain one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import command_line, machine, markdown_table, today  # noqa: E402

MODELS = (
    "Popularity", "DSSM", "FaceBookDSSM", "YoutubeDNN", "YoutubeSBC",
    "GRU4Rec", "NARM", "SASRec", "STAMP",
    "MIND", "ComirecDR", "ComirecSA", "SINE",
)  # fmt: skip
# the best NDCG@10 of each model anywhere in docs/benchmarks.md (2026-11-23, before the
# defaults changed): ids only (benchmarks.run, tuned) and overall (side features, tuned
# epochs or windows, H100 runs)
BEST = {
    "ml-100k": {
        "DSSM": (.0810, .0883), "FaceBookDSSM": (.0796, .0796), "YoutubeDNN": (.0775, .0838),
        "YoutubeSBC": (.0850, .0936), "GRU4Rec": (.1125, .1125), "NARM": (.1115, .1115),
        "SASRec": (.1181, .1181), "STAMP": (.0925, .0925), "MIND": (.0680, .0680),
        "ComirecDR": (.0916, .0916), "ComirecSA": (.0897, .0897), "SINE": (.1055, .1055),
    },
    "beauty": {
        "DSSM": (.0290, .0290), "FaceBookDSSM": (.0175, .0175), "YoutubeDNN": (.0297, .0297),
        "YoutubeSBC": (.0286, .0286), "GRU4Rec": (.0343, .0343), "NARM": (.0385, .0385),
        "SASRec": (.0560, .0560), "STAMP": (.0347, .0347), "MIND": (.0486, .0486),
        "ComirecDR": (.0478, .0478), "ComirecSA": (.0488, .0488), "SINE": (.0504, .0504),
    },
}


def _value(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _pairs(items) -> dict:
    return {k: _value(v) for k, _, v in (p.partition("=") for p in items or ())}


def run_one(name: str, args) -> dict:
    import resource

    import torch
    from run import ranking_metrics, splits  # benchmarks/run.py: the same split and ranking

    import skmatch.models as models

    torch.set_num_threads(args.threads)
    df, train2, _val, train1, test = splits(args.dataset)
    n_items = df["item_id"].nunique()
    params, spec = _pairs(args.set), _pairs(args.spec)
    if name == "Popularity":
        model = models.Popularity()
    else:
        kwargs = {"random_state": args.seed, **params}
        if spec:
            kwargs["feature_spec"] = getattr(models, name)()._default_spec().set_params(**spec)
        model = getattr(models, name)(**kwargs)
    trace = None
    if args.trace and name != "Popularity":
        from _trace import traced

        with traced(train1, test) as traces:
            t0 = time.perf_counter()
            model.fit(train2)
            fit_s = time.perf_counter() - t0
        trace = traces[0].points
    else:
        t0 = time.perf_counter()
        model.fit(train2)
        fit_s = time.perf_counter() - t0
    return {
        "model": name,
        "set": params,
        "spec": spec,
        "fit_s": fit_s,
        "epochs": getattr(model, "n_iter_", None),
        "best_epoch": getattr(model, "best_epoch_", None),
        "batch_size": getattr(model, "batch_size_", None),
        "validation_scores": list(getattr(model, "validation_scores_", [])),
        "loss_curve": list(getattr(model, "loss_curve_", [])),
        "params": {k: repr(v) for k, v in model.get_params(deep=False).items()},
        "max_seq_len": model.feature_spec_.max_seq_len,
        "test": ranking_metrics(model, train1, test, n_items),
        "trace": trace,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine(),
        "threads": torch.get_num_threads(),
    }


def run_in_subprocess(name: str, args, out_dir: Path) -> dict:
    path = out_dir / f"{args.dataset}_{name}.json"
    cmd = [sys.executable, "-m", "benchmarks.defaults", "--one", name, "--record", str(path),
           "--dataset", args.dataset, "--seed", str(args.seed), "--threads", str(args.threads)]
    cmd += [f"--set={p}" for p in args.set or ()] + [f"--spec={p}" for p in args.spec or ()]
    cmd += ["--trace"] if args.trace else []
    done = subprocess.run(cmd, cwd=HERE.parent)
    if done.returncode != 0 or not path.exists():
        return {"model": name, "error": f"exit {done.returncode}"}
    return json.loads(path.read_text())


def table(records: list[dict], dataset: str) -> str:
    pop = next((r["test"]["NDCG@10"] for r in records if r["model"] == "Popularity"), None)
    header = ["model", "NDCG@10", "Recall@10", "x Popularity", "best in docs (ids / any)",
              "share of best (ids / any)", "fit s", "epochs", "best epoch",
              "peak RSS MiB"]  # fmt: skip
    rows = []
    for r in records:
        if "error" in r:
            rows.append([r["model"], r["error"], *[""] * (len(header) - 2)])
            continue
        ndcg = r["test"]["NDCG@10"]
        best = BEST.get(dataset, {}).get(r["model"])
        rows.append([
            r["model"] + (" †" if r.get("set") or r.get("spec") else ""),
            f"{ndcg:.4f}", f"{r['test']['Recall@10']:.4f}",
            f"{ndcg / pop:.2f}" if pop else "-",
            f"{best[0]:.4f} / {best[1]:.4f}" if best else "-",
            f"{ndcg / best[0]:.0%} / {ndcg / best[1]:.0%}" if best else "-",
            f"{r['fit_s']:.1f}", str(r["epochs"] or "-"), str(r["best_epoch"] or "-"),
            f"{r['peak_rss_mib']:.0f}",
        ])  # fmt: skip
    return markdown_table(header, rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["ml-100k", "beauty", "ml-1m"], default="ml-100k")
    p.add_argument("--models", default="all", help='"all" or comma-separated names')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", help="key=value: a model parameter (exploration)")
    p.add_argument("--spec", action="append", help="key=value: a FeatureSpec parameter")
    p.add_argument("--trace", action="store_true", help="test NDCG@10 after every epoch")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--record", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        Path(args.record).write_text(json.dumps(run_one(args.one, args)))
        return 0
    names = MODELS if args.models == "all" else tuple(args.models.split(","))
    if "Popularity" not in names:
        names = ("Popularity", *names)
    out_dir = Path(args.out) / f"defaults_{args.dataset}_{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for name in names:
        records.append(run_in_subprocess(name, args, out_dir))
        print(table(records[-1:], args.dataset).splitlines()[-1], flush=True)
    text = (
        f"# Defaults on {args.dataset} ({today()})\n\n`{command_line()}`\n\n{machine()}\n\n"
        f"{table(records, args.dataset)}\n\n† not the defaults: {args.set or ''} "
        f"{args.spec or ''}\n"
    )
    (out_dir / "table.md").write_text(text)
    (out_dir / "records.json").write_text(json.dumps(records, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
