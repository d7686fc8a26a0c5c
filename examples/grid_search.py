"""Pipeline + GridSearchCV with LeaveLastOut: tune a model like any scikit-learn estimator.

    python examples/grid_search.py [--small]

The pipeline is FeatureSpec -> YoutubeDNN; GridSearchCV scores each candidate by NDCG@10
on each user's last training event (``LeaveLastOut``), refits the best on all training
data, and the held-out test events (never seen by the search) give its final score.
Saves Recall@k against k for the tuned model and Popularity as a PNG.
"""

from __future__ import annotations

import pandas as pd
from _common import load, parse_args
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skmatch import FeatureSpec, Popularity, YoutubeDNN
from skmatch.metrics import evaluate
from skmatch.model_selection import LeaveLastOut, leave_last_out_split
from skmatch.plotting import plot_recall_at_k


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, _ = load(args.small)
    train, test = leave_last_out_split(df)
    pipe = make_pipeline(
        FeatureSpec(max_seq_len=20),
        YoutubeDNN(n_epochs=2 if args.small else 10, random_state=0),
    )
    grid = {"youtubednn__embed_dim": [16, 32], "youtubednn__temperature": [0.05, 0.2]}
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut())  # scored by NDCG@10
    search.fit(train)
    results = pd.DataFrame(search.cv_results_)
    cols = ["param_youtubednn__embed_dim", "param_youtubednn__temperature", "mean_test_score"]
    print(results[cols].rename(columns=lambda c: c.split("__")[-1]).to_string(index=False))
    print(f"\nBest: {search.best_params_} (validation NDCG@10 {search.best_score_:.4f})")

    best = search.best_estimator_
    print(f"Test NDCG@10 of the refitted best: {evaluate(best, test, k=10)['ndcg@10']:.4f}")
    popularity = Popularity().fit(train)
    ax, recalls = plot_recall_at_k({"tuned YoutubeDNN": best, "Popularity": popularity}, test)
    for label, values in recalls.items():
        print(f"{label:<17} Recall@1..100: " + "  ".join(f"{v:.3f}" for v in values))
    path = args.out / "grid_search_recall_at_k.png"
    ax.figure.savefig(path, dpi=100)
    print(f"Recall@k against k saved to {path}")


if __name__ == "__main__":
    main()
