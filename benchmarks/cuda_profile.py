"""On a GPU: where a training epoch's time goes (wall, ``cProfile``, ``torch.profiler``).

Run on a machine with CUDA, from the repository root (``SKMATCH_DATA_HOME`` set)::

    python -m benchmarks.cuda_profile STAMP,DSSM,SASRec

For each model (MovieLens 100K, the benchmark's settings): a warm-up fit of one epoch,
a timed fit of three without profilers, then one epoch under ``cProfile`` (the top
Python-level functions by own time) and one under ``torch.profiler`` (the top operators
by own CPU time, with their CUDA time). Comparing the total CPU time with the total CUDA
time says whether a step is bound by the GPU or by the CPU that launches its kernels.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> None:
    import torch
    from run import CHOSEN, splits

    import skmatch.models as models
    from skmatch import FeatureSpec

    argv = sys.argv[1:] if argv is None else argv
    if not torch.cuda.is_available():
        sys.exit("cuda_profile: no CUDA device; this benchmark runs on a GPU.")
    torch.set_num_threads(2)
    train = splits("ml-100k")[1]
    for name in (argv[0] if argv else "STAMP,DSSM,SASRec").split(","):
        params = dict(CHOSEN["ml-100k"].get(name, {}))
        inter = FeatureSpec(max_seq_len=params.pop("max_seq_len", 50)).fit_transform(train)

        def fit(epochs, name=name, params=params, inter=inter):
            model = getattr(models, name)(
                n_epochs=epochs, random_state=0, device="cuda", **params
            ).fit(inter)
            torch.cuda.synchronize()
            return model

        fit(1)  # CUDA context, kernels, the optimiser's first import
        start = time.perf_counter()
        model = fit(3)
        wall = (time.perf_counter() - start) / 3
        print(f"### {name}: {wall:.2f} s per epoch, batch {model.batch_size_}")
        profile = cProfile.Profile()
        profile.enable()
        fit(1)
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(22)
        print(text.getvalue())
        activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        with torch.profiler.profile(activities=activities) as prof:
            fit(1)
        table = prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=22, max_name_column_width=45
        )
        print(table, flush=True)


if __name__ == "__main__":
    main()
