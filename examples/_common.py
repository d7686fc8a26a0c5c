"""What every example shares: its command line and its data.

Each example runs on MovieLens 100K from the data home (``SKMATCH_DATA_HOME``, else
``~/skmatch_data``; downloaded, checksum-verified, on a connected machine). With
``--small`` it runs in seconds on synthetic interactions (``make_interactions``): that is
how the test suite runs every example.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from skmatch.datasets import get_data_home, load_movielens, make_interactions
from skmatch.exceptions import DataError


def parse_args(doc: str, argv=None) -> argparse.Namespace:
    """``--small`` (synthetic data, few epochs) and ``--out`` (where figures and files go)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="synthetic data and few epochs: runs in seconds")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("skmatch_examples_out"),
                        help="folder for figures and saved models")  # fmt: skip
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def load(small: bool) -> tuple[pd.DataFrame, pd.Series]:
    """Interactions (user_id, item_id, timestamp, ...) and a title for every item id."""
    if not small:
        try:
            df = load_movielens("100k")
            return df, df.drop_duplicates("item_id").set_index("item_id")["title"]
        except DataError as exc:
            print(f"MovieLens 100K unavailable in {get_data_home()} ({exc}); "
                  "using synthetic interactions.")  # fmt: skip
    df = make_interactions(n_users=300, n_items=200, random_state=0)
    titles = df.drop_duplicates("item_id").set_index("item_id")["category"]
    return df, "item of category " + titles.astype(str)


def show(ids, titles: pd.Series, scores=None) -> str:
    """One line per recommended item: rank, id, title (and score)."""
    lines = []
    for rank, item in enumerate(ids, 1):
        score = "" if scores is None else f"  {scores[rank - 1]:.3f}"
        lines.append(f"  {rank:>2}. {item!s:>6}  {titles.get(item, '?')}{score}")
    return "\n".join(lines)
