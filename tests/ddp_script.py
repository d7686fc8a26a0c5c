"""Run by ``tests/test_distributed.py`` under ``torchrun``: fit one model on every rank.

Usage: ``torchrun --standalone --nproc_per_node=N tests/ddp_script.py OUT MODEL [k=v ...]``.
Each rank writes ``OUT/rank<r>.npz`` with its item vectors, loss curve, its index kind
and, on rank 0, the test NDCG@10 and the first users' recommendations.
"""

from __future__ import annotations

import ast
import os
import sys

import numpy as np
import torch.distributed as dist

import skmatch.models
from skmatch.datasets import make_interactions
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.training.distributed import world


def main(out: str, model: str, *overrides: str) -> None:
    # a fixed budget: no early-stopping hold-out (which would change the rows per rank)
    params = dict(embed_dim=32, n_epochs=8, batch_size=64, random_state=0, device="cpu",
                  early_stopping=False)  # fmt: skip
    for item in overrides:
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    df = make_interactions(n_users=300, n_items=200, n_interests=4, random_state=0)
    train, test = leave_last_out_split(df)
    if "rows" in params:  # the first rows only (a whole number of batches)
        train = train.iloc[: params.pop("rows")]
    if params.pop("differ", False) and os.environ.get("RANK") == "1":  # a broken launcher
        train = train.iloc[1:]
    est = getattr(skmatch.models, model)(**params).fit(train)

    rank, size = world()
    result = dict(
        item_vectors=est.item_vectors_,
        loss_curve=np.asarray(est.loss_curve_),
        index=type(est.index_).__name__,
        world_size=size,
    )
    if rank == 0:
        ids, _ = est.recommend(["u0", "u1", "u2"], k=5)
        result.update(ndcg=evaluate(est, test, k=10)["ndcg@10"], recs=ids.astype(str))
    np.savez(os.path.join(out, f"rank{rank}.npz"), **result)
    if dist.is_initialized():  # leave together: a rank exiting with live gloo threads may abort
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
