"""New users without refitting: embed and recommend from a history DataFrame.

    python examples/new_users.py [--small]

Fits GRU4Rec on all users but a few, then treats those as new: their interactions, given
as a DataFrame, are the history they are embedded from. Items unknown to the model (here
a made-up one) become out-of-vocabulary instead of failing.
"""

from __future__ import annotations

import pandas as pd
from _common import load, parse_args, show

from skmatch import FeatureSpec, GRU4Rec


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, titles = load(args.small)
    users = df["user_id"].unique()
    new = users[:3]
    model = GRU4Rec(feature_spec=FeatureSpec(max_seq_len=50),
                    n_epochs=3 if args.small else 30, random_state=0)  # fmt: skip
    model.fit(df[~df["user_id"].isin(new)])  # the three users are never seen in fit

    history = df[df["user_id"].isin(new)].sort_values("timestamp")
    extra = history.groupby("user_id").tail(1).assign(item_id="never-seen-item")
    history = pd.concat([history, extra])  # an unknown item: out-of-vocabulary
    vectors = model.transform_users(history)  # one row per user, first appearance order
    print(f"Embedded {len(vectors)} new users from {len(history)} history rows: "
          f"shape {vectors.shape}")  # fmt: skip
    items, scores = model.recommend(history, k=5)  # their own items are filtered
    for user, row, row_scores in zip(history["user_id"].unique(), items, scores, strict=True):
        seen = set(history.loc[history["user_id"] == user, "item_id"])
        assert not seen & set(row), "history items must not be recommended"
        print(f"\nNew user {user} ({len(seen)} items):\n{show(row, titles, row_scores)}")


if __name__ == "__main__":
    main()
