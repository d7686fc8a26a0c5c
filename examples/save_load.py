"""Save and load a fitted model: ``save``/``load`` (no pickle) and joblib.

    python examples/save_load.py [--small]

``save`` writes one file of tensors, strings and numbers that ``load`` reads with
``torch.load(weights_only=True)``: loading it cannot run code, so it is the format to
exchange. Pickle and joblib also work (whole pipelines included) but, as with any
pickle, load only files you trust.
"""

from __future__ import annotations

import joblib
import numpy as np
import torch
from _common import load, parse_args
from sklearn.pipeline import make_pipeline

from skmatch import STAMP, FeatureSpec


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, _ = load(args.small)
    pipe = make_pipeline(FeatureSpec(max_seq_len=20),
                         STAMP(n_epochs=2 if args.small else 10, random_state=0))  # fmt: skip
    pipe.fit(df)
    model = pipe[-1]
    users = df["user_id"].unique()[:5]
    expected = model.recommend(users, k=10)

    path = args.out / "stamp.skm"
    model.save(path)
    torch.load(path, weights_only=True)  # proof: a weights-only load reads the whole file
    loaded = STAMP.load(path)  # always onto the CPU, whatever device it was fitted on
    assert np.array_equal(loaded.recommend(users, k=10)[0], expected[0])
    print(f"save/load: {path} ({path.stat().st_size / 1024:.0f} KiB), same recommendations")

    joblib_path = args.out / "pipeline.joblib"
    joblib.dump(pipe, joblib_path)  # the whole pipeline: FeatureSpec and model
    again = joblib.load(joblib_path)
    assert np.array_equal(again[-1].recommend(users, k=10)[0], expected[0])
    print(f"joblib: {joblib_path} ({joblib_path.stat().st_size / 1024:.0f} KiB), "
          "same recommendations")  # fmt: skip
    print(f"Parameters survive both: {loaded.get_params() == model.get_params()}")


if __name__ == "__main__":
    main()
