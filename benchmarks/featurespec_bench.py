"""FeatureSpec.fit_transform + history gathering at 10^5..10^7 rows, vs Torch-RecHub 0.9.0.

Run by hand from the repository root (prints a Markdown table, writes JSON to
``benchmarks/out/``)::

    python benchmarks/featurespec_bench.py --sizes 100000 1000000 10000000 \\
        --rechub-sizes 100000 1000000

For every size a synthetic frame is written once to ``--tmp`` (``.npz``: ``user_id``,
``item_id``, ``time`` int64 columns; users = ``--users-frac`` of the rows, items drawn from
``--items`` ids, all uniform, times uniform in [0, 10^9)). Each measurement then runs in a
fresh subprocess that loads the frame and reports its own wall times and peak RSS
(``resource.getrusage``):

* skmatch: ``FeatureSpec(time_col="time", max_seq_len=50).fit_transform(df)``, then every
  row's history window gathered with ``Interactions.histories(rows)`` in batches of
  ``--batch`` rows taken in a shuffled order (as training does);
* Torch-RecHub (its own venv, ``/work/.venv-rechub``): ``generate_seq_feature_match(data,
  "user_id", "item_id", time_col="time", item_attribute_cols=[], sample_method=1, mode=0,
  neg_ratio=0, min_item=0)`` then ``gen_model_input(df, user_profile, "user_id",
  item_profile, "item_id", seq_max_len=50)`` on its train and test frames (which together
  hold every row but each user's first). A run longer than ``--rechub-timeout`` seconds is
  killed and reported as a lower bound.

"added RSS/row" is (peak RSS - RSS after loading the frame) / rows: what the encoding and
the gathering cost on top of the input frame.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RECHUB_PYTHON = "/work/.venv-rechub/bin/python"


# ---------------------------------------------------------------------------- children
def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_frame(path: str):
    import pandas as pd

    with np.load(path) as z:
        return pd.DataFrame({c: z[c] for c in ("user_id", "item_id", "time")})


def child_ours(args) -> dict:
    from skmatch import FeatureSpec

    df = _load_frame(args.data)
    n = len(df)
    base_rss = _current_rss_mib()
    t0 = time.perf_counter()
    inter = FeatureSpec(time_col="time", max_seq_len=args.seq_len).fit_transform(df)
    fit_s = time.perf_counter() - t0
    fit_peak = _peak_rss_mib()
    t0 = time.perf_counter()
    order = np.random.default_rng(0).permutation(n)
    checksum = 0
    for start in range(0, n, args.batch):
        h = inter.histories(order[start : start + args.batch])  # (batch, seq_len)
        checksum += int(h[:, -1].sum())
    hist_s = time.perf_counter() - t0
    return {
        "rows": n,
        "fit_transform_s": fit_s,
        "histories_s": hist_s,
        "total_s": fit_s + hist_s,
        "base_rss_mib": base_rss,
        "fit_peak_rss_mib": fit_peak,
        "peak_rss_mib": _peak_rss_mib(),
        "checksum": checksum,
    }


def child_rechub(args) -> dict:
    import pandas as pd
    from torch_rechub.utils.match import gen_model_input, generate_seq_feature_match

    data = _load_frame(args.data)
    n = len(data)
    base_rss = _current_rss_mib()
    user_profile = pd.DataFrame({"user_id": np.unique(data["user_id"].to_numpy())})
    item_profile = pd.DataFrame({"item_id": np.unique(data["item_id"].to_numpy())})
    t0 = time.perf_counter()
    df_train, df_test = generate_seq_feature_match(
        data, "user_id", "item_id", time_col="time", item_attribute_cols=[],
        sample_method=1, mode=0, neg_ratio=0, min_item=0,
    )  # fmt: skip
    gsfm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x_train = gen_model_input(
        df_train, user_profile, "user_id", item_profile, "item_id", seq_max_len=args.seq_len
    )
    x_test = gen_model_input(
        df_test, user_profile, "user_id", item_profile, "item_id", seq_max_len=args.seq_len
    )
    gmi_s = time.perf_counter() - t0
    return {
        "rows": n,
        "gsfm_s": gsfm_s,
        "gen_model_input_s": gmi_s,
        "total_s": gsfm_s + gmi_s,
        "n_out_rows": len(x_train["user_id"]) + len(x_test["user_id"]),
        "base_rss_mib": base_rss,
        "peak_rss_mib": _peak_rss_mib(),
    }


# ---------------------------------------------------------------------------- parent
def make_frame(n: int, args) -> Path:
    path = Path(args.tmp) / f"frame_{n}_{args.seed}.npz"
    if path.exists():
        return path
    rng = np.random.default_rng([args.seed, n])
    n_users = max(int(n * args.users_frac), 1)
    np.savez(
        path,
        user_id=rng.integers(n_users, size=n, dtype=np.int64),
        item_id=rng.integers(args.items, size=n, dtype=np.int64),
        time=rng.integers(10**9, size=n, dtype=np.int64),
    )
    return path


def run_child(python: str, kind: str, data: Path, args, timeout: float | None) -> dict:
    result = Path(args.tmp) / f"result_{kind}_{data.stem}.json"
    result.unlink(missing_ok=True)
    cmd = [
        python, str(Path(__file__).resolve()), "--child", kind, "--data", str(data),
        "--result", str(result), "--seq-len", str(args.seq_len), "--batch", str(args.batch),
    ]  # fmt: skip
    log = Path(args.tmp) / f"log_{kind}_{data.stem}.txt"
    t0 = time.perf_counter()
    try:
        with open(log, "w") as fh:
            subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timed_out": True, "total_s": time.perf_counter() - t0}
    except subprocess.CalledProcessError as exc:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{kind} child failed ({exc.returncode}):\n{tail}") from None
    return json.loads(result.read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6, 10**7])
    parser.add_argument("--rechub-sizes", type=int, nargs="*", default=[10**5, 10**6])
    parser.add_argument("--rechub-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--users-frac", type=float, default=0.01)
    parser.add_argument("--items", type=int, default=10**5)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", default="/tmp/skmatch_featurespec_bench")
    parser.add_argument("--out", default=str(HERE / "out"))
    # internal: run one measurement in this (fresh) process
    parser.add_argument("--child", choices=["ours", "rechub"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        res = child_ours(args) if args.child == "ours" else child_rechub(args)
        Path(args.result).write_text(json.dumps(res))
        return

    sys.path.insert(0, str(HERE))
    from _common import command_line, machine, markdown_table, today

    Path(args.tmp).mkdir(parents=True, exist_ok=True)
    records = []
    for n in args.sizes:
        data = make_frame(n, args)
        ours = run_child(sys.executable, "ours", data, args, None)
        print(
            f"ours   {n:>11,}: fit_transform {ours['fit_transform_s']:.2f}s, "
            f"histories {ours['histories_s']:.2f}s, peak {ours['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
        theirs = None
        if n in args.rechub_sizes:
            theirs = run_child(RECHUB_PYTHON, "rechub", data, args, args.rechub_timeout)
            print(f"rechub {n:>11,}: {theirs}", flush=True)
        records.append({"rows": n, "ours": ours, "theirs": theirs})

    def mib(x):
        return f"{x:,.0f}"

    rows = []
    for r in records:
        n, o = r["rows"], r["ours"]
        added = (o["peak_rss_mib"] - o["base_rss_mib"]) * 2**20 / n
        rows.append(
            [
                f"{n:,}", "skmatch", f"{o['fit_transform_s']:.2f}", f"{o['histories_s']:.2f}",
                f"{o['total_s']:.2f}", mib(o["peak_rss_mib"]),
                f"{o['peak_rss_mib'] * 2**20 / n:,.0f}", f"{added:,.0f}", "",
            ]
        )  # fmt: skip
        t = r["theirs"]
        if t is None:
            continue
        if t.get("timed_out"):
            rows.append(
                [f"{n:,}", "torch-rechub 0.9.0", "-", "-", f"> {t['total_s']:.0f} (killed)",
                 "-", "-", "-", f">= {t['total_s'] / o['total_s']:.0f}x"]
            )  # fmt: skip
            continue
        added = (t["peak_rss_mib"] - t["base_rss_mib"]) * 2**20 / n
        rows.append(
            [
                f"{n:,}", "torch-rechub 0.9.0", f"{t['gsfm_s']:.2f} (gsfm)",
                f"{t['gen_model_input_s']:.2f} (gen_model_input)", f"{t['total_s']:.2f}",
                mib(t["peak_rss_mib"]), f"{t['peak_rss_mib'] * 2**20 / n:,.0f}",
                f"{added:,.0f}", f"{t['total_s'] / o['total_s']:.1f}x",
            ]
        )  # fmt: skip
    header = [
        "rows", "library", "encode s", "histories s", "total s", "peak RSS MiB",
        "peak RSS B/row", "added RSS B/row", "theirs/ours time",
    ]  # fmt: skip
    table = markdown_table(header, rows)
    info = f"Machine: {machine()}; {today()}\nCommand: `{command_line()}`"
    print()
    print(table)
    print()
    print(info)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"featurespec_{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {"args": vars(args), "machine": machine(), "date": today(), "records": records}
    path.write_text(json.dumps({**payload, "command": command_line(), "table": table}, indent=1))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
