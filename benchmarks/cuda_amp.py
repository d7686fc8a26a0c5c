"""On a GPU: seconds per training epoch with ``amp`` off and on, alternated.

Run on a machine with CUDA, from the repository root (``SKMATCH_DATA_HOME`` set)::

    python -m benchmarks.cuda_amp                  # the benchmark settings, batch x1 and x4
    python -m benchmarks.cuda_amp --cases larger   # wider models, longer windows, Beauty

Each configuration is fitted once to warm up (CUDA context, kernels), then ``--reps``
times with ``amp=False`` and with ``amp=True`` in turn, so that drift hits both alike.
Prints a Markdown table: seconds per epoch of every run and the last epoch's loss.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, markdown_table, today  # noqa: E402

SMALL = ["DSSM", "YoutubeDNN", "STAMP", "SASRec", "GRU4Rec", "NARM"]
# (dataset, model, max_seq_len, params, epochs per fit)
LARGER = [
    (
        "ml-100k",
        "SASRec",
        200,
        {"embed_dim": 256, "n_heads": 4, "n_layers": 2, "batch_size": 128},
        2,
    ),
    ("ml-100k", "DSSM", 50, {"embed_dim": 256, "hidden_dims": (512, 256), "batch_size": 4096}, 3),
    ("beauty", "SASRec", 50, {}, 1),
]


def cases(which: str):
    from run import CHOSEN

    import skmatch.models as models

    if which == "larger":
        yield from LARGER
        return
    for name in SMALL:
        params = dict(CHOSEN["ml-100k"].get(name, {}))
        seq = params.pop("max_seq_len", 50)
        base = getattr(models, name)().batch_size
        base = 128 if base == "auto" else base  # "auto" is 128 on data of this size or more
        for batch in (base, 4 * base):
            yield "ml-100k", name, seq, {**params, "batch_size": batch}, 3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", choices=["benchmark", "larger"], default="benchmark")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch
    from run import splits

    import skmatch.models as models
    from skmatch import FeatureSpec

    if not torch.cuda.is_available():
        sys.exit("cuda_amp: no CUDA device; this benchmark runs on a GPU.")
    torch.set_num_threads(args.threads)
    inters: dict = {}
    rows = []
    warmed = set()
    for data, name, seq, params, epochs in cases(args.cases):
        if (data, seq) not in inters:
            inters[data, seq] = FeatureSpec(max_seq_len=seq).fit_transform(splits(data)[1])
        inter, cls = inters[data, seq], getattr(models, name)
        if (data, name, seq, str(params)) not in warmed:
            cls(n_epochs=1, device="cuda", random_state=0, **params).fit(inter)
            warmed.add((data, name, seq, str(params)))
        runs: dict[bool, list] = {False: [], True: []}
        for _ in range(args.reps):
            for amp in (False, True):
                model = cls(n_epochs=epochs, amp=amp, device="cuda", random_state=0, **params)
                start = time.perf_counter()
                model.fit(inter)
                torch.cuda.synchronize()
                runs[amp].append(((time.perf_counter() - start) / epochs, model.loss_curve_[-1]))
        for amp in (False, True):
            seconds = ", ".join(f"{s:.2f}" for s, _ in runs[amp])
            row = [data, name, f"window {seq}, {params}", str(amp), seconds]
            rows.append([*row, f"{runs[amp][-1][1]:.4f}"])
            print(" | ".join(rows[-1]), flush=True)
    header = ["data", "model", "configuration", "amp", f"s/epoch ({args.reps} runs)", "loss"]
    print()
    print(markdown_table(header, rows))
    print()
    print(f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    print(f"Machine: {machine()}; {today()}")
    print(f"Command: `python -m benchmarks.cuda_amp --cases {args.cases}`")


if __name__ == "__main__":
    main()
