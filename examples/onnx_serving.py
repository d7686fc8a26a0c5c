"""Serve with ONNX: the user tower in onnxruntime, the item vectors in a retrieval index.

    python examples/onnx_serving.py [--small]

Exports SASRec's user and item towers, embeds all items once with the item tower into an
index of the model's kind (``clone(model.index_)``: exact below 20,000 items, an
``HNSWIndex`` above), then serves a user the way a production service would: encode the
history (``user_tower_inputs``), run the user tower in onnxruntime, search the index, map
codes back to ids. The result matches ``recommend`` (needs the ``onnx`` extra). An
approximate index in front of an exact ``recommend`` could not promise that: HNSW may
miss a top item.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from _common import load, parse_args, show
from sklearn.base import clone

from skmatch import FeatureSpec, SASRec
from skmatch.export import export_onnx, item_codes, user_tower_inputs


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    df, titles = load(args.small)
    model = SASRec(feature_spec=FeatureSpec(max_seq_len=50),
                   n_epochs=2 if args.small else 20, random_state=0)  # fmt: skip
    model.fit(df)
    user_file = export_onnx(model, args.out / "sasrec_user.onnx", tower="user")
    item_file = export_onnx(model, args.out / "sasrec_item.onnx", tower="item")
    user_tower = ort.InferenceSession(str(user_file))
    item_tower = ort.InferenceSession(str(item_file))
    print("user tower inputs:", [(i.name, i.shape, i.type) for i in user_tower.get_inputs()])

    codes = item_codes(model)  # every known item, in vocabulary order
    item_vectors = item_tower.run(None, {"item_codes": codes})[0]
    index = clone(model.index_).fit(item_vectors)  # the model's kind of index, unfitted
    item_ids = model.feature_spec_.items_.categories.to_numpy()

    history = df[df["user_id"] == df["user_id"].iloc[0]]  # one user's interactions
    feeds = user_tower_inputs(model, history)  # {"history": int64 [1, max_seq_len]}
    user_vector = user_tower.run(None, feeds)[0]  # [1, d]
    seen = [np.flatnonzero(np.isin(item_ids, history["item_id"]))]
    found, scores = index.search(user_vector, k=5, exclude=seen)
    served = item_ids[found[0]]
    print(f"\nServed through ONNX + {type(index).__name__}:\n{show(served, titles, scores[0])}")

    expected = model.recommend(history, k=5, return_scores=False)[0]
    gap = np.abs(user_vector - model.transform_users(history)).max()
    print(f"\nSame as recommend: {list(served) == list(expected)}; "
          f"largest user-vector difference {gap:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
