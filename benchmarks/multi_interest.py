"""Multi-interest models of skmatch (MIND, ComirecDR, ComirecSA, SINE), optionally against
Torch-RecHub, and ComiRec's diversity trade-off.

Run by hand from the repository root (prints Markdown tables, writes JSON to
``benchmarks/out/``)::

    SKMATCH_DATA_HOME=/work/shared/data python benchmarks/multi_interest.py \\
        --dataset ml-100k --compare torch-rechub --diversity 0,0.1,0.2
    SKMATCH_DATA_HOME=/work/shared/data python benchmarks/multi_interest.py --dataset beauty

Protocol: that of ``benchmarks/sequential.py`` (and ``/work/shared/tools/rechub_anchor.py``):
each user's last item is the test target, the one before it the validation target; models
are fitted on the rest (``train2``); for the test ranking each user is embedded from
training + validation items, which are excluded from a full ranking over all items;
Recall@10/20 and NDCG@10/20 averaged over all users. Ours: ``embed_dim=64``, ids only,
each model's defaults, ``--epochs`` epochs; the history window ``max_seq_len`` is chosen per
model among ``--seq-lens`` (default 20 and 50) by NDCG@10 on the validation target (each
user's event after ``train2``, the user embedded from ``train2``), never on the test split.

``--diversity l1,l2,...`` (ML-100K): the fitted models re-rank with ComiRec's controllable
aggregation at each ``lambda`` (``diversity`` is set after fitting, no retraining), by the
movies' genres; the table gives Recall@20 and the intra-list genre diversity of the top 20
(mean ``1 - Jaccard`` of the genre sets over pairs of recommended movies).

``--compare torch-rechub`` runs the anchor (``mind,comirecsa``: the multi-interest models
it supports) in ``/work/.venv-rechub`` AFTER ours, with its own defaults and ``--epochs``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, machine, markdown_table, peak_rss_mib, today
from sequential import HEADER, fmt_row, run_rechub
from two_tower import _json_default, test_metrics

ROOT = Path(__file__).resolve().parent
ALL_MODELS = ("MIND", "ComirecDR", "ComirecSA", "SINE")
RECHUB_MODELS = {"MIND": "mind", "ComirecSA": "comirecsa"}
NOT_IN_ANCHOR = {
    "ComirecDR": "Torch-RecHub 0.9.0 ships ComirecDR, but the anchor tool does not run it",
    "SINE": "Torch-RecHub 0.9.0 ships SINE, but the anchor tool does not run it",
}
SEQ_LEN = 50


def load_data(dataset: str):
    if dataset == "ml-100k":
        from skmatch.datasets import load_movielens

        return load_movielens("100k")[["user_id", "item_id", "timestamp", "genres"]]
    from skmatch.datasets import load_amazon_beauty

    return load_amazon_beauty()


def fit_ours(name: str, train2, args, seq_len: int):
    """(model, prep seconds, training seconds)."""
    import skmatch.models as models
    from skmatch import FeatureSpec

    genres = "genres" in train2.columns
    spec = FeatureSpec(max_seq_len=seq_len, item_features=["genres"] if genres else [])
    t0 = time.perf_counter()
    inter = spec.fit_transform(train2)
    prep_s = time.perf_counter() - t0
    if name == "Popularity":
        model = models.Popularity()
    else:
        model = getattr(models, name)(
            embed_dim=args.dim,
            n_epochs=args.epochs,
            random_state=args.seed,
            device=args.device,
            category_feature="genres" if genres else None,
        )
    t0 = time.perf_counter()
    model.fit(inter)
    return model, prep_s, time.perf_counter() - t0


def fit_selected(name: str, train2, val, args):
    """Fit once per candidate ``max_seq_len``; keep the best on the validation split.

    The validation target is each user's event right after ``train2``, ranked with the
    user embedded from ``train2`` (never the test split). Returns the chosen model, its
    timings, the chosen length and the validation NDCG@10 of every candidate.
    """
    best, val_scores = None, {}
    for seq_len in [SEQ_LEN] if name == "Popularity" else args.seq_lens:
        model, prep_s, train_s = fit_ours(name, train2, args, seq_len)
        score = test_metrics(model, train2, val)[0]["NDCG@10"]
        val_scores[seq_len] = score
        if best is None or score > best[4]:
            best = (model, prep_s, train_s, seq_len, score)
    return best[0], best[1], best[2], best[3], val_scores


def list_diversity(model, ids: np.ndarray) -> float:
    """Mean ``1 - Jaccard`` of the category sets over pairs of items of each list."""
    from skmatch.features import N_RESERVED
    from skmatch.models._diversity import category_distance

    cats = model._item_categories()
    pos = model.feature_spec_.encode_items(ids.ravel()).reshape(ids.shape) - N_RESERVED
    c = cats[pos]  # [n, k, W]
    k = ids.shape[1]
    total = sum(category_distance(c[:, [i]], c[:, [j]]).sum() for i in range(k) for j in range(k))
    return float(total / (len(ids) * k * (k - 1)))


def run_ours(name: str, train2, val, train1, test, args) -> tuple[dict, object]:
    model, prep_s, train_s, seq_len, val_scores = fit_selected(name, train2, val, args)
    metrics, rec_s = test_metrics(model, train1, test)
    fit_s = prep_s + train_s
    epochs = 0 if name == "Popularity" else args.epochs
    rec = {
        "library": "skmatch",
        "model": name,
        "epochs": epochs,
        "batch_size": getattr(model, "batch_size", None),
        "max_seq_len": seq_len,
        "val_ndcg@10_by_max_seq_len": val_scores,
        "temperature": getattr(model, "temperature", None),
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
        f"Recall@20 {metrics['Recall@20']:.4f}  (max_seq_len {seq_len}; validation NDCG@10 "
        + ", ".join(f"{n}: {v:.4f}" for n, v in val_scores.items())
        + ")",
        flush=True,
    )
    return rec, model


def diversity_sweep(models: dict, train1, test, lambdas) -> tuple[str, list[dict]]:
    rows, recs = [], []
    for name, model in models.items():
        for lam in lambdas:
            model.set_params(diversity=lam)
            metrics, _ = test_metrics(model, train1, test)
            ids = model.recommend(train1, k=20, return_scores=False)
            div = list_diversity(model, ids)
            recs.append({"model": name, "diversity": lam, "test": metrics, "genre_diversity": div})
            rows.append([name, f"{lam:g}", f"{metrics['Recall@20']:.4f}", f"{div:.4f}"])
            print(f"  {name:<10} lambda {lam:g}: Recall@20 {metrics['Recall@20']:.4f}, "
                  f"genre diversity@20 {div:.4f}", flush=True)  # fmt: skip
        model.set_params(diversity=0.0)
    header = ["model", "diversity (lambda)", "Recall@20", "genre diversity@20"]
    return markdown_table(header, rows), recs


def targets_check(records: list[dict], theirs: list[dict], dataset: str) -> str:
    pop = next(r for r in records if r["model"] == "Popularity")["test"]["NDCG@10"]
    bar = 1.5 * pop if dataset == "ml-100k" else 0.030
    bar_s = f"1.5 x Popularity = {bar:.4f}" if dataset == "ml-100k" else "0.030"
    by_model = {r["model"]: r for r in theirs}
    lines = []
    for r in records:
        if r["model"] == "Popularity":
            continue
        n = r["test"]["NDCG@10"]
        verdict = "PASS" if n >= bar else "FAIL"
        lines.append(f"- {r['model']}: NDCG@10 {n:.4f} vs {bar_s}: {verdict}")
        t = by_model.get(r["model"])
        if t is not None:
            tn = t["test"]["NDCG@10"]
            lines.append(
                f"- {r['model']}: NDCG@10 {n:.4f} vs Torch-RecHub {tn:.4f}: "
                f"{'PASS' if n >= tn else 'FAIL'}"
            )
        elif theirs or r["model"] in NOT_IN_ANCHOR:
            lines.append(f"- {r['model']}: no Torch-RecHub row ({NOT_IN_ANCHOR[r['model']]})")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ml-100k", "beauty"], default="ml-100k")
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--seq-lens", default="20,50", help="candidate max_seq_len, chosen on validation"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--diversity", default="", help="comma-separated lambdas (ML-100K)")
    parser.add_argument("--compare", choices=["torch-rechub"], default=None)
    parser.add_argument("--rechub-epochs", type=int, default=10, help="anchor --epochs")
    parser.add_argument("--out", default=str(ROOT / "out"))
    args = parser.parse_args(argv)
    args.rechub_sasrec_epochs = None  # read by sequential.run_rechub
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {ALL_MODELS}")
    args.seq_lens = [int(x) for x in args.seq_lens.split(",") if x.strip()]
    lambdas = [float(x) for x in args.diversity.split(",") if x.strip()]
    if lambdas and args.dataset != "ml-100k":
        parser.error("--diversity needs item categories: use --dataset ml-100k")

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
    print(f"{args.dataset}: {len(df)} interactions; train {len(train2)}, test {len(test)}")
    info = (
        f"Machine: {machine()}; torch {torch.__version__} ({args.threads} threads), "
        f"skmatch {skmatch.__version__}; {today()}\n"
        f"Command: `SKMATCH_DATA_HOME={os.environ.get('SKMATCH_DATA_HOME', '')} "
        f"{command_line()}`"
    )
    records, fitted = [], {}
    for name in ["Popularity", *args.models]:
        rec, model = run_ours(name, train2, val, train1, test, args)
        records.append(rec)
        if name != "Popularity":
            fitted[name] = model
    div_table, div_recs = ("", [])
    if lambdas:
        div_table, div_recs = diversity_sweep(fitted, train1, test, lambdas)

    theirs, mostpop, rechub_cmd = [], None, ""
    if args.compare == "torch-rechub":  # strictly after ours: never two heavy jobs at once
        theirs, mostpop, rechub_cmd = run_rechub(
            args, train2, out_dir / f"rechub_mi_{stamp}", RECHUB_MODELS
        )
    rows = [fmt_row(r) for r in records]
    if mostpop is not None:
        t = mostpop["test"]
        rows.append(
            ["torch-rechub 0.9.0 (anchor)", "MostPopular", "-", "-", "-", "-"]
            + [f"{t[m]:.4f}" for m in ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20")]
        )
    rows += [fmt_row(r) for r in theirs]
    table = markdown_table(HEADER, rows)
    chosen = markdown_table(
        ["model", "max_seq_len chosen", "validation NDCG@10 per max_seq_len"],
        [
            [
                r["model"],
                str(r["max_seq_len"]),
                ", ".join(f"{n}: {v:.4f}" for n, v in r["val_ndcg@10_by_max_seq_len"].items()),
            ]
            for r in records
            if r["model"] != "Popularity"
        ],
    )
    checks = targets_check(records, theirs, args.dataset)
    if rechub_cmd:
        info += f"\nTorch-RecHub command: `{rechub_cmd}`"
    print()
    print(table)
    print()
    print(chosen)
    if div_table:
        print()
        print(div_table)
    print()
    print(checks)
    print()
    print(info)
    result = {
        "args": vars(args),
        "machine": machine(),
        "torch": torch.__version__,
        "date": today(),
        "ours": records,
        "theirs": theirs,
        "rechub_mostpop": mostpop,
        "diversity": div_recs,
        "table": table,
        "chosen": chosen,
        "diversity_table": div_table,
        "checks": checks,
    }
    path = out_dir / f"multi_interest_{args.dataset}_{stamp}.json"
    path.write_text(json.dumps(result, indent=1, default=_json_default))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
