"""RecBole 1.2.1 on our protocol: its sequential models, ranked as we rank ours.

Runs in RecBole's own virtual environment (never a dependency of skmatch)::

    python3 -m venv /work/.venv-recbole
    /work/.venv-recbole/bin/pip install torch==2.13.0
    /work/.venv-recbole/bin/pip install "numpy<2" "pandas<2.2" recbole==1.2.1
    SKMATCH_DATA_HOME=/work/shared/data /work/.venv-recbole/bin/python \
        benchmarks/recbole_anchor.py --dataset ml-100k --models GRU4Rec,SASRec --out OUT

(``python -m benchmarks.time_to_quality --anchor recbole`` calls it.) The split is ours:
each user's events ordered by (timestamp, row order), given to RecBole as a tie-broken
integer time, so that its leave-one-out split (``LS: valid_and_test``, ``order: TO``)
holds out exactly our validation and test events and trains on our ``train2``. RecBole
trains with its own trainer and defaults (its model's config, CE loss, early stopping
on its validation split); then every test user is ranked over the full catalogue from
the model's ``full_sort_predict`` scores, with all of the user's training and validation
items excluded (RecBole's own full-sort evaluation does not exclude them for sequential
models, and its ``item_id_list`` holds only the last 50 of a long history), and
Recall@10 / NDCG@10 are computed as skmatch computes them. One JSON per model under
``--out``: the fit seconds (``trainer.fit``, its validation included), epochs, and the
test metrics.
"""

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
import torch

DATA = os.environ.get("SKMATCH_DATA_HOME", "")


def load(dataset: str) -> pd.DataFrame:
    """user, item, time (a unique rank: timestamp, then row order), as our loaders order."""
    if dataset == "ml-100k":
        df = pd.read_csv(f"{DATA}/ml-100k/u.data", sep="\t",
                         names=["user_id", "item_id", "rating", "timestamp"])  # fmt: skip
    else:
        rows = []
        with open(f"{DATA}/amazon-beauty-5core/Beauty.txt") as f:
            for line in f:
                p = line.split()
                rows += [(p[0], it, t) for t, it in enumerate(p[1:])]
        df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy()))
    rank = np.empty(len(df), dtype=np.int64)
    rank[order] = np.arange(len(df))
    return pd.DataFrame({"user_id": df["user_id"].astype(str), "item_id": df["item_id"].astype(str),
                         "timestamp": rank})  # fmt: skip


def write_atomic(df: pd.DataFrame, folder: str, name: str) -> None:
    os.makedirs(f"{folder}/{name}", exist_ok=True)
    out = df.rename(columns={"user_id": "user_id:token", "item_id": "item_id:token",
                             "timestamp": "timestamp:float"})  # fmt: skip
    out.to_csv(f"{folder}/{name}/{name}.inter", sep="\t", index=False)


def seen_items(frame: pd.DataFrame, dataset) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, indices) over RecBole's user ids: each user's items before the test event.

    RecBole's ``item_id_list`` holds only the last ``MAX_ITEM_LIST_LENGTH`` items, so it
    cannot exclude a long history's older items; our protocol excludes all of them.
    """
    last = frame.groupby("user_id")["timestamp"].transform("max")
    before = frame[frame["timestamp"] < last]
    users = dataset.token2id(dataset.uid_field, before["user_id"].to_numpy())
    items = dataset.token2id(dataset.iid_field, before["item_id"].to_numpy())
    order = np.argsort(users, kind="stable")
    counts = np.bincount(users, minlength=dataset.user_num)
    return np.concatenate([[0], np.cumsum(counts)]), np.asarray(items)[order]


def ranked_metrics(model, test_data, dataset, seen, k: int = 10) -> dict:
    """Full-catalogue ranking of every test user, training + validation items excluded."""
    indptr, indices = seen
    ndcg, recall, n = 0.0, 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in test_data:
            interaction = batch[0]
            scores = model.full_sort_predict(interaction.to(model.device))
            scores = scores.view(len(interaction), -1).float()
            users = interaction[dataset.uid_field].numpy()
            lo, hi = indptr[users], indptr[users + 1]
            sizes = hi - lo
            rows = np.repeat(np.arange(len(users)), sizes)
            starts = np.repeat(lo - (np.cumsum(sizes) - sizes), sizes)
            cols = indices[starts + np.arange(len(rows))]
            scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
            scores[:, 0] = float("-inf")  # the padding item
            target = interaction[dataset.iid_field].view(-1, 1)
            top = scores.topk(k, dim=1).indices
            hit = top == target
            rank = hit.float().argmax(1)
            found = hit.any(1)
            ndcg += float((found / torch.log2(rank.float() + 2)).sum())
            recall += float(found.sum())
            n += len(interaction)
    return {"NDCG@10": ndcg / n, "Recall@10": recall / n, "n_users": n}


def run(model_name: str, args, folder: str, frame: pd.DataFrame) -> dict:
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    config = Config(model=model_name, dataset=args.dataset, config_dict={
        "data_path": folder, "checkpoint_dir": f"{folder}/saved",
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full",
                      "group_by": "user"},
        "MAX_ITEM_LIST_LENGTH": 50, "embedding_size": 64,  # their defaults, stated
        "train_neg_sample_args": None, "loss_type": "CE",
        "epochs": args.epochs, "stopping_step": 10, "eval_step": 1,
        "valid_metric": "NDCG@10", "metrics": ["Recall", "NDCG"], "topk": [10],
        "seed": args.seed, "reproducibility": True, "device": "cpu", "use_gpu": False,
        "show_progress": False, "worker": 0,
    })  # fmt: skip
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)  # per-epoch training and evaluation times in the log
    torch.set_num_threads(args.threads)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    t0 = time.perf_counter()
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_s = time.perf_counter() - t0
    # the best epoch's weights, from the file RecBole's trainer wrote moments ago in this
    # run (it pickles its config, so weights_only=True cannot read it)
    saved = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    trainer.model.load_state_dict(saved["state_dict"])
    return {
        "model": model_name, "dataset": args.dataset, "fit_s": fit_s,
        "epochs": len(getattr(trainer, "train_loss_dict", {})) or None,
        "best_valid_NDCG@10": float(best_valid) if best_valid is not None else None,
        "test": ranked_metrics(trainer.model, test_data, dataset, seen_items(frame, dataset)),
        "library": "RecBole 1.2.1", "n_items": int(dataset.item_num - 1),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["ml-100k", "beauty"], default="ml-100k")
    p.add_argument("--models", default="GRU4Rec,NARM,SASRec,STAMP,SINE")
    p.add_argument("--epochs", type=int, default=300, help="RecBole's default")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    folder = os.path.join(args.out, "recbole_data")
    frame = load(args.dataset)
    write_atomic(frame, folder, args.dataset)
    for name in args.models.split(","):
        try:
            rec = run(name, args, folder, frame)
        except Exception as exc:  # report, and run the next model
            import traceback

            traceback.print_exc()
            rec = {"model": name, "error": repr(exc)}
        with open(os.path.join(args.out, f"recbole_{args.dataset}_{name}.json"), "w") as f:
            json.dump(rec, f, indent=1)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
