"""On the CPU: would ``torch.compile`` make training faster? Eager and compiled, alternated.

Run from the repository root (``SKMATCH_DATA_HOME`` set)::

    python -m benchmarks.torch_compile                      # SASRec, STAMP, YoutubeDNN
    python -m benchmarks.torch_compile --models STAMP --reps 3

skmatch has no compile option; this script wraps the user tower of each fitted module
(SASRec: its transformer encoder) in ``torch.compile`` (inductor) to measure what one
would give. skmatch's CPU dropout draws its mask with an in-place ``random_`` that
dynamo cannot trace, so compiled runs use ``torch.nn.functional.dropout`` instead.

Each model is fitted at its ML-100K benchmark settings with ``--epochs A B`` (2 and 6
by default), eager and compiled in turn, ``--reps`` times. The time of a compiled fit
includes compiling (cached on disk after the first fit of a process), so the steady
cost is the slope ``(t_B - t_A) / (B - A)`` seconds per epoch; the intercept is the
one-time cost. A warm-up fit of each compiled model fills the compile cache first.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, markdown_table, today  # noqa: E402


@contextlib.contextmanager
def compiled(cls, dynamic: bool):
    """While active, ``cls`` builds modules whose user tower is compiled."""
    import torch
    import torch.nn.functional as F

    from skmatch.nn import dropout

    build, forward = cls._build_module, dropout.Dropout.forward

    def build_compiled(self):
        module = build(self)
        if hasattr(module, "encoder"):  # SASRec: the transformer blocks
            module.encoder.forward = torch.compile(module.encoder.forward, dynamic=dynamic)
        else:
            module.user_forward = torch.compile(module.user_forward, dynamic=dynamic)
        return module

    def traceable(self, x):
        return F.dropout(x, self.p, training=self.training)

    cls._build_module, dropout.Dropout.forward = build_compiled, traceable
    try:
        yield
    finally:
        cls._build_module, dropout.Dropout.forward = build, forward


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="SASRec,STAMP,YoutubeDNN")
    p.add_argument("--epochs", type=int, nargs=2, default=(2, 6), metavar=("A", "B"))
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch
    import torch._dynamo
    from run import CHOSEN, splits

    import skmatch.models as models
    from skmatch import FeatureSpec

    torch.set_num_threads(args.threads)
    torch._dynamo.config.cache_size_limit = 64  # one graph per trimmed window length
    train = splits("ml-100k")[1]
    a, b = args.epochs
    rows = []
    for name in args.models.split(","):
        params = dict(CHOSEN["ml-100k"].get(name, {}))
        inter = FeatureSpec(max_seq_len=params.pop("max_seq_len", 50)).fit_transform(train)
        cls = getattr(models, name)

        def fit(epochs: int, compile_: bool, cls=cls, params=params, inter=inter):
            model = cls(n_epochs=epochs, random_state=0, **params)
            with compiled(cls, dynamic=False) if compile_ else contextlib.nullcontext():
                start = time.perf_counter()
                model.fit(inter)
            return time.perf_counter() - start, model.loss_curve_[-1]

        warm = fit(1, True)[0]  # fills the compile cache
        runs: dict[bool, list] = {False: [], True: []}
        for _ in range(args.reps):
            for compile_ in (False, True):
                (ta, _), (tb, loss) = fit(a, compile_), fit(b, compile_)
                runs[compile_].append(((tb - ta) / (b - a), ta - a * (tb - ta) / (b - a), loss))
        for compile_ in (False, True):
            per_epoch = ", ".join(f"{s:.2f}" for s, _, _ in runs[compile_])
            fixed = ", ".join(f"{f:.1f}" for _, f, _ in runs[compile_])
            mode = "compiled" if compile_ else "eager"
            rows.append([name, mode, per_epoch, fixed, f"{runs[compile_][-1][2]:.4f}"])
            print(" | ".join(rows[-1]), flush=True)
        print(f"{name}: first compiled fit of this process (1 epoch) {warm:.1f} s", flush=True)
    header = ["model", "mode", f"s/epoch ({args.reps} runs)", "fixed s per fit", f"loss, {b} ep"]
    print()
    print(markdown_table(header, rows))
    print()
    print(f"torch {torch.__version__}; {torch.get_num_threads()} threads")
    print(f"Machine: {machine()}; {today()}")
    print(f"Command: `python -m benchmarks.torch_compile --models {args.models} "
          f"--epochs {a} {b} --reps {args.reps}`")


if __name__ == "__main__":
    main()
