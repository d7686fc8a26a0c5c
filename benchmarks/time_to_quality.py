"""Time to quality against an anchor library: seconds to reach their final NDCG@10.

Run from the repository root (Torch-RecHub in its own venv, see
``../shared/tools/rechub_anchor.py``, ``RECHUB_PYTHON`` points at its python; RecBole in
its own, see ``benchmarks/recbole_anchor.py``, ``RECBOLE_PYTHON``)::

    SKMATCH_DATA_HOME=/work/shared/data python -m benchmarks.time_to_quality --dataset ml-100k
    python -m benchmarks.time_to_quality --dataset beauty --models SASRec,STAMP
    python -m benchmarks.time_to_quality --anchor recbole --models GRU4Rec,STAMP \
        --anchor-epochs 25 [--reuse benchmarks/out/ttq_recbole_ml-100k_<stamp>]

For every model the anchor runs, in one run on this machine, one after another: the
anchor fits its model on our split (Torch-RecHub 0.9.0: its whole fit, preprocessing and
training epochs; RecBole 1.2.1: ``trainer.fit`` with its validation, its defaults, an
epoch budget of ``--anchor-epochs``, 300 by default as RecBole's own), then our model
is fitted with its defaults and traced
(``benchmarks.defaults --trace``: after every epoch, the seconds of our fit so far and
the test NDCG@10, the evaluation's own time excluded). The speed-up is their whole fit's
seconds over the seconds our fit needed to first reach their final test NDCG@10
(``-`` when it never did). ``--reuse DIR`` reads anchor fits that finished in an
earlier run on this machine (a long run stopped part-way) instead of repeating them;
ours are always fitted anew. Samples/s is not the measure: a full softmax learns more per
sample than a sampled loss, so equal samples/s says nothing of quality.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RECBOLE_PYTHON, RECHUB_PYTHON, command_line, machine, markdown_table, today  # noqa: E402
from run import RECHUB  # noqa: E402  (our name -> the anchor's)


def run_anchor(dataset: str, names: list[str], out_dir: Path, seed: int,
               reuse: Path | None = None) -> dict:  # fmt: skip
    anchor = Path(
        os.environ.get("RECHUB_ANCHOR", HERE.parents[1] / "shared" / "tools" / "rechub_anchor.py")
    )
    wanted = [RECHUB[m] for m in names if m in RECHUB]
    todo = [m for m in wanted if _finished(reuse, f"{dataset}_{m}.json") is None]
    if todo:
        cmd = [RECHUB_PYTHON, str(anchor), "--dataset", dataset, "--models", ",".join(todo),
               "--seed", str(seed), "--out", str(out_dir)]  # fmt: skip
        with open(out_dir / "anchor.log", "w") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    back, out = {v: k for k, v in RECHUB.items()}, {}
    for m in wanted:
        path = _finished(reuse, f"{dataset}_{m}.json") or out_dir / f"{dataset}_{m}.json"
        r = json.loads(path.read_text()) if path.exists() else {"error": "no output"}
        if "error" in r:
            out[back[m]] = {"error": str(r["error"])[:120]}
            continue
        out[back[m]] = {
            "fit_s": float(r["prep_s"]) + float(r["train_epochs_sum_s"]),
            "epochs": r["n_epochs"],
            "ndcg": r["test"]["NDCG@10"],
            **({"recall": r["test"]["Recall@10"]} if "Recall@10" in r["test"] else {}),
            "from": str(path),
        }
    return out


def _finished(reuse: Path | None, name: str) -> Path | None:
    """The anchor's output file ``name`` in the ``--reuse`` folder, if it is there."""
    path = reuse / name if reuse else None
    return path if path is not None and path.exists() else None


RECBOLE_MODELS = ("GRU4Rec", "NARM", "SASRec", "STAMP", "SINE")


def run_recbole(dataset: str, names: list[str], out_dir: Path, epochs: int, threads: int,
                reuse: Path | None = None) -> dict:  # fmt: skip
    wanted = [m for m in names if m in RECBOLE_MODELS]

    todo = [m for m in wanted if _finished(reuse, f"recbole_{dataset}_{m}.json") is None]
    if todo:
        cmd = [RECBOLE_PYTHON, str(HERE / "recbole_anchor.py"), "--dataset", dataset,
               "--models", ",".join(todo), "--epochs", str(epochs), "--threads", str(threads),
               "--out", str(out_dir)]  # fmt: skip
        with open(out_dir / "anchor.log", "w") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=out_dir)
    out = {}
    for m in wanted:
        path = _finished(reuse, f"recbole_{dataset}_{m}.json") or (
            out_dir / f"recbole_{dataset}_{m}.json"
        )
        r = json.loads(path.read_text()) if path.exists() else {"error": "no output"}
        if "error" in r:
            out[m] = {"error": str(r["error"])[:120]}
            continue
        out[m] = {"fit_s": r["fit_s"], "epochs": r["epochs"], "ndcg": r["test"]["NDCG@10"],
                  "recall": r["test"]["Recall@10"], "from": str(path)}  # fmt: skip
    return out


def run_ours(dataset: str, name: str, out_dir: Path, seed: int, threads: int) -> dict:
    path = out_dir / f"ours_{name}.json"
    cmd = [sys.executable, "-m", "benchmarks.defaults", "--one", name, "--record", str(path),
           "--dataset", dataset, "--seed", str(seed), "--threads", str(threads),
           "--trace"]  # fmt: skip
    done = subprocess.run(cmd, cwd=HERE.parent)
    if done.returncode != 0 or not path.exists():
        return {"error": f"exit {done.returncode}"}
    return json.loads(path.read_text())


def first_reach(trace: list, target: float):
    """(epoch, seconds) of the first traced epoch whose test NDCG@10 >= ``target``."""
    for epoch, seconds, ndcg in trace or ():
        if ndcg >= target:
            return epoch, seconds
    return None


def table(theirs: dict, ours: dict, library: str = "Torch-RecHub") -> str:
    header = ["model", f"{library} NDCG@10 / Recall@10", "their fit s (epochs)",
              "our final NDCG@10 / Recall@10", "our fit s (epochs)",
              "our s to their NDCG@10 (epoch)", "speed-up"]  # fmt: skip
    rows = []
    for name, t in theirs.items():
        o = ours.get(name, {})
        if "error" in t or "error" in o:
            rows.append([name, t.get("error", ""), "", o.get("error", ""), "", "", ""])
            continue
        hit = first_reach(o["trace"], t["ndcg"])
        recall = f" / {t['recall']:.4f}" if "recall" in t else ""
        rows.append([
            name, f"{t['ndcg']:.4f}{recall}", f"{t['fit_s']:.1f} ({t['epochs']})",
            f"{o['test']['NDCG@10']:.4f} / {o['test']['Recall@10']:.4f}",
            f"{o['fit_s']:.1f} ({o['epochs']})",
            f"{hit[1]:.1f} ({hit[0]})" if hit else "never",
            f"**{t['fit_s'] / hit[1]:.1f}x**" if hit else "-",
        ])  # fmt: skip
    return markdown_table(header, rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["ml-100k", "beauty"], default="ml-100k")
    p.add_argument("--models", default="all", help='"all" (every model the anchor runs)')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anchor", choices=["rechub", "recbole"], default="rechub")
    p.add_argument("--anchor-epochs", type=int, default=300, help="RecBole's epoch budget")
    p.add_argument("--threads", type=int, default=2, help="torch threads, both libraries")
    p.add_argument("--reuse", type=Path, help="a folder of an earlier run on this machine "
                   "whose finished anchor fits are read instead of run again")
    p.add_argument("--out", default=str(HERE / "out"))
    args = p.parse_args(argv)
    every = RECHUB if args.anchor == "rechub" else RECBOLE_MODELS
    names = list(every) if args.models == "all" else args.models.split(",")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out).resolve() / f"ttq_{args.anchor}_{args.dataset}_{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.anchor == "rechub":
        theirs = run_anchor(args.dataset, names, out_dir, args.seed, args.reuse)
        library = "Torch-RecHub"
    else:
        theirs = run_recbole(args.dataset, names, out_dir, args.anchor_epochs, args.threads,
                             args.reuse)  # fmt: skip
        library = "RecBole"
    ours = {name: run_ours(args.dataset, name, out_dir, args.seed, args.threads)
            for name in theirs}  # fmt: skip
    text = (
        f"# Time to quality against {library} on {args.dataset} ({today()})\n\n"
        f"`{command_line()}`\n\n{machine()}\n\n{table(theirs, ours, library)}\n"
    )
    (out_dir / "table.md").write_text(text)
    (out_dir / "records.json").write_text(json.dumps({"theirs": theirs, "ours": ours}))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
