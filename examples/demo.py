"""skmatch demo: Popularity, YoutubeDNN and SASRec on MovieLens 100K, with their defaults.

Nothing is tuned: each model is ``Model(random_state=0)`` (early stopping on each user's
last training event decides the epochs). Leave-last-out, full ranking, seen items
excluded. Falls back to synthetic data (``make_interactions``) when MovieLens is not in
the data home (``SKMATCH_DATA_HOME``, else ``~/skmatch_data``), and says so. Takes about
four minutes on two CPU cores.
"""

from __future__ import annotations

import time

from skmatch.datasets import get_data_home, load_movielens, make_interactions
from skmatch.exceptions import DataError
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import Popularity, SASRec, YoutubeDNN


def load():
    try:
        df = load_movielens("100k", download_if_missing=False)
        return df, "MovieLens 100K", df.drop_duplicates("item_id").set_index("item_id")["title"]
    except DataError:
        print(f"MovieLens 100K not found in {get_data_home()}: using make_interactions instead.")
        df = make_interactions(n_users=943, n_items=1682, random_state=0)
        titles = df.drop_duplicates("item_id").set_index("item_id")["category"]
        return df, "synthetic interactions", "category " + titles


def main() -> None:
    df, name, titles = load()
    train, test = leave_last_out_split(df)
    print(
        f"{name}: {len(df):,} interactions, {df.user_id.nunique()} users, "
        f"{df.item_id.nunique()} items; leave-last-out, full ranking, seen items excluded.\n"
    )
    models = {
        "Popularity": Popularity(),
        "YoutubeDNN": YoutubeDNN(random_state=0),
        "SASRec": SASRec(random_state=0),
    }
    for label, model in models.items():
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        scores = evaluate(model, test, k=(10, 20))
        shown = "  ".join(
            f"{m} {scores[m]:.4f}" for m in ("recall@10", "ndcg@10", "recall@20", "ndcg@20")
        )
        epochs = f"{model.n_epochs_:3d} epochs" if hasattr(model, "n_epochs_") else " " * 10
        print(f"{label:<11} fit {seconds:6.1f}s {epochs}  {shown}", flush=True)
    model = models["SASRec"]
    users = list(test["user_id"].iloc[:3])
    items, scores = model.recommend(users, k=10)
    held = test.set_index("user_id")["item_id"]
    for user, row, srow in zip(users, items, scores, strict=True):
        target = held[user]
        print(f"\nSASRec's top 10 for user {user} (held-out: {titles.get(target, target)}):")
        for rank, (item, score) in enumerate(zip(row, srow, strict=True), 1):
            mark = "  <- held-out item" if item == target else ""
            print(f"  {rank:2d}. {titles.get(item, item)!s:<50} {score:7.3f}{mark}")


if __name__ == "__main__":
    main()
