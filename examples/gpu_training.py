"""Training on a GPU when one is present (and the same script on CPU otherwise).

    python examples/gpu_training.py [--small]

``device="auto"`` (the default) trains on CUDA when torch sees a GPU, with bfloat16
autocast, and on the CPU otherwise. Whatever the device, the fitted model serves on the
CPU after pickling or ``save``: the weights travel as CPU tensors.
"""

from __future__ import annotations

import pickle
import time

import numpy as np
import torch
from _common import load, parse_args

from skmatch import FeatureSpec, SASRec
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, _ = load(args.small)
    train, test = leave_last_out_split(df)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"Training on {device} ({name})")
    epochs = 2 if args.small else 20
    model = SASRec(feature_spec=FeatureSpec(max_seq_len=50), n_epochs=epochs, device="auto",
                   random_state=0)  # fmt: skip
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    print(f"fitted on {model.device_} in {seconds:.1f} s ({len(train) * epochs / seconds:,.0f} "
          f"interactions/s); NDCG@10 {evaluate(model, test, k=10)['ndcg@10']:.4f}")  # fmt: skip

    on_cpu = pickle.loads(pickle.dumps(model))  # always unpickles onto the CPU
    users = train["user_id"].unique()[:3]
    same = np.array_equal(on_cpu.recommend(users)[0], model.recommend(users)[0])
    print(f"unpickled on {on_cpu.device_}: same recommendations as on {device}: {same}")


if __name__ == "__main__":
    main()
