"""Data-parallel training under torchrun (the same script runs as one plain process).

    torchrun --standalone --nproc_per_node=2 examples/distributed_training.py [--small]
    python examples/distributed_training.py [--small]

Every process loads the same data and calls ``fit``. Launched by ``torchrun``, ``fit``
joins the process group (NCCL on GPUs, one per process; gloo on CPU), wraps the model in
``DistributedDataParallel``, gives each rank its shard of every epoch and gathers the
in-batch negatives of all ranks. ``batch_size`` is per process. All ranks end with the
same weights; rank 0 builds the retrieval index, evaluates and saves.
"""

from __future__ import annotations

import time

import torch.distributed as dist
from _common import load, parse_args

from skmatch import FeatureSpec, YoutubeDNN
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, _ = load(args.small)
    train, test = leave_last_out_split(df)
    model = YoutubeDNN(feature_spec=FeatureSpec(max_seq_len=50), n_epochs=2 if args.small else 10,
                       batch_size=256, device="auto", random_state=0)  # fmt: skip
    start = time.perf_counter()
    model.fit(train)  # every rank, the same data
    seconds = time.perf_counter() - start
    rank = dist.get_rank() if dist.is_initialized() else 0
    size = dist.get_world_size() if dist.is_initialized() else 1
    if rank == 0:  # one process reports and saves
        ndcg = evaluate(model, test, k=10)["ndcg@10"]
        print(f"Trained on {size} process(es) in {seconds:.1f} s; NDCG@10 {ndcg:.4f}")
        model.save(args.out / "youtube_dnn.skm")
        print(f"Saved by rank 0 to {args.out / 'youtube_dnn.skm'}")


if __name__ == "__main__":
    main()
