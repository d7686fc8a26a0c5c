"""Multi-interest recommendations, explained interest by interest.

    python examples/multi_interest.py [--small]

ComirecSA embeds each user as several interest vectors. For two users this prints, per
interest, the history items that interest is closest to (what it stands for) and the
items it retrieves on its own; then the merged recommendation (each item keeps its best
score over the interests) and, with ``diversity``, ComiRec's controllable aggregation.
"""

from __future__ import annotations

import numpy as np
from _common import load, parse_args

from skmatch import ComirecSA, FeatureSpec


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, titles = load(args.small)
    category = "category" if args.small else "genres"
    spec = FeatureSpec(max_seq_len=20, item_features=[category])
    model = ComirecSA(feature_spec=spec, n_interests=4, n_epochs=2 if args.small else 10,
                      category_feature=category, random_state=0)  # fmt: skip
    model.fit(df)
    item_vecs = model.transform_items()  # [n_items, d], in vocabulary order
    item_ids = model.feature_spec_.items_.categories.to_numpy()
    for user in df["user_id"].unique()[:2]:
        interests = model.transform_users([user])[0]  # [K, d]
        history = df.loc[df["user_id"] == user, "item_id"].unique()
        hist_vecs = model.transform_items(history)
        print(f"\nUser {user}: {len(history)} items in history, {len(interests)} interests")
        for k, vec in enumerate(interests):
            closest = history[np.argsort(-(hist_vecs @ vec))[:3]]
            scores = np.where(np.isin(item_ids, history), -np.inf, item_vecs @ vec)  # unseen
            top = item_ids[np.argsort(-scores)[:3]]
            print(f"  interest {k}: stands for {[titles.get(i, '?') for i in closest]}")
            print(f"              retrieves  {[titles.get(i, '?') for i in top]}")
        merged = model.recommend([user], k=5, return_scores=False)[0]
        print(f"  merged top 5: {[titles.get(i, '?') for i in merged]}")
        model.set_params(diversity=0.5)  # a fitted model re-aggregates at once
        diverse = model.recommend([user], k=5, return_scores=False)[0]
        model.set_params(diversity=0.0)
        print(f"  diversity=0.5: {[titles.get(i, '?') for i in diverse]}")


if __name__ == "__main__":
    main()
