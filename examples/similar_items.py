"""Similar items: the nearest items in a model's item-embedding space.

    python examples/similar_items.py [--small]

Item-to-item retrieval ("more like this") from the item tower of a fitted YoutubeDNN,
through the same index that serves ``recommend``; the query item itself is excluded.
"""

from __future__ import annotations

from _common import load, parse_args, show

from skmatch import FeatureSpec, YoutubeDNN


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, titles = load(args.small)
    model = YoutubeDNN(feature_spec=FeatureSpec(max_seq_len=50),
                       n_epochs=3 if args.small else 10, random_state=0)  # fmt: skip
    model.fit(df)
    popular = df["item_id"].value_counts().index[:3].to_numpy()
    items, scores = model.similar_items(popular, k=5)
    for item, row, row_scores in zip(popular, items, scores, strict=True):
        print(f"\nMost similar to {item} ({titles.get(item, '?')}):")
        print(show(row, titles, row_scores))


if __name__ == "__main__":
    main()
