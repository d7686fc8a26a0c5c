"""skmatch demo: Popularity and YoutubeDNN on MovieLens 100K, leave-last-out, full ranking.

Falls back to synthetic data (``make_interactions``) when MovieLens is not in the data
home (``SKMATCH_DATA_HOME``, else ``~/skmatch_data``), and says so.
"""

from __future__ import annotations

import time

import numpy as np

from skmatch import FeatureSpec
from skmatch.datasets import get_data_home, load_movielens, make_interactions
from skmatch.exceptions import DataError
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import Popularity, YoutubeDNN


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
    print(f"{name}: {len(df):,} interactions, {df.user_id.nunique()} users, "
          f"{df.item_id.nunique()} items; leave-last-out, full ranking, seen items excluded.\n")
    models = {
        "Popularity": Popularity(),
        "YoutubeDNN": YoutubeDNN(
            feature_spec=FeatureSpec(max_seq_len=50), n_epochs=10, random_state=0
        ),
    }
    for label, model in models.items():
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        scores = evaluate(model, test, k=(10, 20))
        shown = "  ".join(f"{m} {scores[m]:.4f}" for m in ("recall@10", "ndcg@10", "ndcg@20"))
        print(f"{label:<11} fit {seconds:5.1f}s  {shown}")
    users = list(test["user_id"].iloc[:3])
    model = models["YoutubeDNN"]
    items, scores = model.recommend(users, k=10)
    for user, row, srow in zip(users, items, scores, strict=True):
        print(f"\nTop 10 for user {user} (YoutubeDNN):")
        for rank, (item, score) in enumerate(zip(row, srow, strict=True), 1):
            print(f"  {rank:2d}. {titles.get(item, item)!s:<55} {score:7.3f}")
    held = test.set_index("user_id").loc[users, "item_id"].to_numpy()
    hits = [bool(np.isin(h, r)) for h, r in zip(held, items, strict=True)]
    print(f"\nHeld-out item in the top 10: {hits}")


if __name__ == "__main__":
    main()
