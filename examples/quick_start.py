"""Quick start: fit SASRec on interactions, evaluate it against Popularity, recommend.

    python examples/quick_start.py            # MovieLens 100K, about 3 minutes on 2 cores
    python examples/quick_start.py --small    # synthetic data, seconds

Prints the leave-last-out evaluation (full ranking, seen items excluded) of both models,
the top 5 of two users with titles, and saves the training curve as a PNG.
"""

from __future__ import annotations

from _common import load, parse_args, show

from skmatch import FeatureSpec, Popularity, SASRec
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.plotting import plot_training_curves


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, titles = load(args.small)
    train, test = leave_last_out_split(df)  # each user's last event is held out
    spec = FeatureSpec(max_seq_len=50)
    budget = {"n_epochs": 3} if args.small else {}  # the full run: the defaults as they are
    sasrec = SASRec(feature_spec=spec, random_state=0, **budget)
    for model in (Popularity(), sasrec):
        model.fit(train)
        scores = evaluate(model, test, k=10)
        print(f"{type(model).__name__:<10} Recall@10 {scores['recall@10']:.4f}  "
              f"NDCG@10 {scores['ndcg@10']:.4f}")  # fmt: skip

    users = train["user_id"].unique()[:2]
    items, scores = sasrec.recommend(users, k=5)  # raw ids in, raw ids out
    for user, row, row_scores in zip(users, items, scores, strict=True):
        print(f"\nTop 5 for user {user}:\n{show(row, titles, row_scores)}")

    ax = plot_training_curves(sasrec)
    path = args.out / "quick_start_training_curve.png"
    ax.figure.savefig(path, dpi=100)
    print(f"\nTraining curve saved to {path}")


if __name__ == "__main__":
    main()
