"""Fingerprint of every estimator's outputs, to show that a refactoring changed nothing.

Each estimator is fitted with ``random_state=0`` and 2 epochs on fixed frames; the
fingerprint holds the top-10 recommendations of 50 users, their scores and the loss
curve. Record one before a change and one after, then compare::

    python -m benchmarks.fingerprint record --out build/fingerprint/before.json
    python -m benchmarks.fingerprint record --out build/fingerprint/after.json
    python -m benchmarks.fingerprint compare build/fingerprint/before.json \
        build/fingerprint/after.json

Fixtures: ``synthetic`` (``make_interactions``, ids only), ``synthetic-features`` (the same
frame with the user ``segment`` and item ``category``), ``ml-100k`` (ids only; skipped
when the data home lacks it), and ``variants``: settings off the default path (other
modes, negatives, window kinds, weights) on the synthetic frame. The comparison demands
identical recommendations and scores and losses equal to float32 round-off
(``--rtol``/``--atol``); it prints one line per case and exits 1 on any difference.
The files hold recommended ids of ML-100K: keep them out of the repository (``build/``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

N_USERS, K, EPOCHS = 50, 10, 2

VARIANTS = {
    "DSSM": [dict(mode="pairwise", negatives="uniform"), dict(mode="pointwise",
             negatives="popularity"), dict(negatives="mixed", logq_correction=False)],
    "YoutubeDNN": [dict(negatives="hard", n_negatives=20), dict(negatives="all")],
    "FaceBookDSSM": [dict(negatives="hard", n_negatives=20)],
    "SASRec": [dict(train_positions="last"), dict(negatives="in_batch")],
    "GRU4Rec": [dict(negatives="uniform", n_negatives=50)],
    "NARM": [dict(train_positions="last")],
    "MIND": [dict(hidden_dims=(32,)), dict(negatives="in_batch")],
    "ComirecSA": [dict(negatives="uniform")],
    "SINE": [dict(retrieval="aggregated")],
}


def _frames():
    from skmatch import FeatureSpec
    from skmatch.datasets import load_movielens, make_interactions

    syn = make_interactions(n_users=300, n_items=200, random_state=0)
    weighted = syn.assign(weight=np.random.default_rng(0).integers(1, 4, len(syn)).astype(float))
    out = {
        "synthetic": (syn, FeatureSpec(max_seq_len=20)),
        "synthetic-features": (
            syn,
            FeatureSpec(max_seq_len=20, user_features=["segment"], item_features=["category"]),
        ),
        "variants": (syn, FeatureSpec(max_seq_len=20)),
        "weighted": (weighted, FeatureSpec(max_seq_len=20)),
    }
    try:
        ml = load_movielens("100k", download_if_missing=False)
        out["ml-100k"] = (ml[["user_id", "item_id", "timestamp"]], FeatureSpec(max_seq_len=20))
    except (OSError, ValueError) as exc:
        print(f"ml-100k skipped: {exc}", file=sys.stderr)
    return out


def _cases():
    from skmatch.models import all_estimators

    frames = _frames()
    for fixture, (df, spec) in frames.items():
        for cls in all_estimators():
            name = cls.__name__
            if fixture == "variants":
                for i, params in enumerate(VARIANTS.get(name, [])):
                    yield f"{fixture}/{name}/{i}", cls, params, df, spec
            elif fixture == "weighted":
                if name in ("DSSM", "SASRec", "GRU4Rec", "ComirecDR", "Popularity"):
                    yield f"{fixture}/{name}", cls, {}, df, spec
            else:
                yield f"{fixture}/{name}", cls, {}, df, spec


def record(out: Path) -> None:
    from sklearn.base import clone

    results = {}
    for key, cls, params, df, spec in _cases():
        t0 = time.perf_counter()
        kwargs = dict(feature_spec=clone(spec), **params)
        if cls.__name__ != "Popularity":
            kwargs.update(n_epochs=EPOCHS, random_state=0)
        model = cls(**kwargs).fit(df)
        users = np.sort(df["user_id"].unique())[:N_USERS]
        ids, scores = model.recommend(users, k=K)
        results[key] = {
            "ids": [[str(i) for i in row] for row in ids],
            "scores": np.asarray(scores, dtype=np.float64).tolist(),
            "loss": [float(v) for v in getattr(model, "loss_curve_", [])],
        }
        print(f"{key}: {time.perf_counter() - t0:.1f}s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results))


def compare(before: Path, after: Path, rtol: float, atol: float) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    bad = 0
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            print(f"{key}: only in {'after' if key in b else 'before'}")
            bad += 1
            continue
        x, y = a[key], b[key]
        ids_same = x["ids"] == y["ids"]
        ds = np.abs(np.array(x["scores"]) - np.array(y["scores"]))
        ds = float(np.nanmax(np.where(np.isfinite(ds), ds, 0.0), initial=0.0))
        dl = float(np.max(np.abs(np.subtract(x["loss"], y["loss"])), initial=0.0))
        ok_s = np.allclose(x["scores"], y["scores"], rtol=rtol, atol=atol, equal_nan=True)
        ok_l = len(x["loss"]) == len(y["loss"]) and np.allclose(
            x["loss"], y["loss"], rtol=rtol, atol=atol
        )
        ok = ids_same and ok_s and ok_l
        bad += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {key}: ids {'same' if ids_same else 'differ'}, "
              f"max |d score| {ds:.2e}, max |d loss| {dl:.2e}")  # fmt: skip
    print(f"{len(set(a) | set(b)) - bad} of {len(set(a) | set(b))} cases unchanged")
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", type=Path, required=True)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    cmp_.add_argument("--rtol", type=float, default=1e-5)
    cmp_.add_argument("--atol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    if args.cmd == "record":
        record(args.out)
        return 0
    return compare(args.before, args.after, args.rtol, args.atol)


if __name__ == "__main__":
    sys.exit(main())
