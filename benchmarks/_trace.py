"""Per-epoch test NDCG@10 and fit seconds of a fit, for time-to-quality curves.

``traced(fn)`` runs ``fn()`` (which fits a model) with a callback appended to every fit's
callbacks: after each epoch it records the seconds of training so far (the callback's own
evaluation excluded) and the test NDCG@10 of the module as it stands, ranked as
``benchmarks.run`` ranks the test event (users embedded from ``history``, full catalogue,
seen items excluded). The model's estimator code is untouched: the benchmark patches
``TorchMatcher._callbacks`` for the duration.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np


class TestTrace:
    """The callback: ``points`` is a list of (epoch, train seconds, test NDCG@10)."""

    def __init__(self, est, history, target, start: float) -> None:
        self.est, self.history, self.target = est, history, target
        self.points, self.start, self.eval_s = [], start, 0.0

    def _hooks(self):
        from skmatch.training import Callback

        trace = self

        class _Hook(Callback):
            def on_epoch_end(self, state):
                t0 = time.perf_counter()
                trace.points.append((state.epoch, t0 - trace.start - trace.eval_s,
                                     trace.ndcg(state)))  # fmt: skip
                state.module.train()
                trace.eval_s += time.perf_counter() - t0

        return _Hook()

    def ndcg(self, state) -> float:
        from skmatch.metrics import ndcg_at_k

        est = self.est
        module, device = state.module, state.device
        from skmatch.index import ExactIndex

        keys = ("module_", "device_", "item_vectors_", "index_")
        saved = {k: getattr(est, k, None) for k in keys}
        est.module_, est.device_ = module, device
        est.item_vectors_ = est._compute_item_vectors(module, device)
        est.index_ = ExactIndex().fit(est.item_vectors_)
        try:
            hist = self.history[self.history["user_id"].isin(self.target["user_id"])]
            query = est._query(hist)
            pos, _ = est._recommend_positions(query, 10, exact=True)
            ids = est.feature_spec_.inverse_transform_items(np.where(pos >= 0, pos + 2, 0))
            y = self.target.set_index("user_id")["item_id"].loc[query.ids].to_numpy()
            return float(ndcg_at_k(y, ids, 10))
        finally:
            for k, v in saved.items():
                if v is None:
                    est.__dict__.pop(k, None)
                else:
                    setattr(est, k, v)


@contextlib.contextmanager
def traced(history, target):
    """Within the block, every fit of a neural model records a :class:`TestTrace`; the
    yielded list collects them (one per fit). Seconds count from entering the block."""
    from skmatch.models.neural import TorchMatcher

    traces = []
    original = TorchMatcher._callbacks
    entered = time.perf_counter()  # the fit starts right after: its seconds count from here

    def patched(self, state, *args, **kwargs):
        trace = TestTrace(self, history, target, entered)
        traces.append(trace)
        return [*original(self, state, *args, **kwargs), trace._hooks()]

    TorchMatcher._callbacks = patched
    try:
        yield traces
    finally:
        TorchMatcher._callbacks = original
