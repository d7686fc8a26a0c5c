"""Plots of fitted estimators: training curves and recall@k against k (matplotlib).

matplotlib is an optional dependency (``pip install 'skmatch[plot]'``); it is imported
only when a function here is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral

import numpy as np

from skmatch.exceptions import format_values
from skmatch.metrics import evaluate


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("skmatch.plotting needs matplotlib: pip install 'skmatch[plot]'") from exc
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def plot_training_curves(estimator, ax=None, *, title: str | None = None):
    """Training loss per epoch and, when early stopping ran, validation NDCG per epoch.

    Parameters
    ----------
    estimator : fitted TorchMatcher
        Reads ``loss_curve_``, ``validation_scores_`` and ``validation_epochs_`` (a
        score validated inside an epoch is drawn where it was taken).
    ax : matplotlib Axes, optional
        Drawn on a new figure when None. The validation curve goes on a twin axis.
    title : str, optional
        Defaults to the estimator's class name.

    Returns
    -------
    matplotlib Axes
        The loss axes.
    """
    if not hasattr(estimator, "loss_curve_"):
        raise ValueError(
            f"{type(estimator).__name__} has no loss_curve_: fit a neural estimator first "
            "(Popularity has no training curve)."
        )
    ax = _axes(ax)
    epochs = np.arange(1, len(estimator.loss_curve_) + 1)
    ax.plot(epochs, estimator.loss_curve_, marker="o", color="C0", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    scores = list(getattr(estimator, "validation_scores_", []) or [])
    if scores:
        twin = ax.twinx()
        where = getattr(estimator, "validation_epochs_", None)  # absent in older files
        where = np.arange(1, len(scores) + 1) if where is None else where
        twin.plot(where, scores, marker="s", color="C1", label="validation NDCG")
        twin.set_ylabel("validation NDCG")
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="best")
    else:
        ax.legend(loc="best")
    ax.set_title(title or type(estimator).__name__)
    return ax


_DEFAULT_KS = (1, 5, 10, 20, 50, 100)


def plot_recall_at_k(
    estimators: Mapping[str, object] | Sequence[object],
    X_test,
    ks: Sequence[int] | None = None,
    ax=None,
):
    """Recall@k against k for several fitted estimators on the same held-out interactions.

    Parameters
    ----------
    estimators : dict of label -> fitted estimator, or list of fitted estimators
        A list is labelled by class names.
    X_test : DataFrame
        Held-out interactions (user and item columns of the fitted FeatureSpec).
    ks : sequence of int, optional
        Default: those of 1, 5, 10, 20, 50 and 100 within the smallest catalogue of the
        estimators.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    recalls : dict of label -> ndarray of shape (len(ks),)
        The plotted values.
    """
    if not isinstance(estimators, Mapping):
        estimators = _labelled(list(estimators))
    if not estimators:
        raise ValueError("plot_recall_at_k needs at least one fitted estimator.")
    if ks is None:
        ks = _default_ks(estimators.values())
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, Integral) or k < 1]
    if bad or not len(ks):
        raise ValueError(f"ks must be positive integers; got {format_values(bad or ks)}.")
    ks = sorted({int(k) for k in ks})
    ax = _axes(ax)
    recalls = {}
    for label, est in estimators.items():
        # one ranking at the largest k gives every smaller k
        scores = evaluate(est, X_test, k=ks)
        recalls[label] = np.array([scores[f"recall@{k}"] for k in ks])
        ax.plot(ks, recalls[label], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k")
    ax.legend(loc="best")
    return ax, recalls


def _default_ks(estimators) -> list[int]:
    """1, 5, 10, 20, 50, 100 up to the smallest catalogue."""
    sizes = []
    for est in estimators:
        final = est[-1] if hasattr(est, "steps") else est  # a Pipeline: its model
        if isinstance(getattr(final, "n_items_", None), Integral):
            sizes.append(int(final.n_items_))
    n_items = min(sizes, default=100)
    return [k for k in _DEFAULT_KS if k <= n_items] or [1]


def _labelled(estimators: list) -> dict:
    """Legend labels: the class name, numbered when a class appears more than once."""
    names = [type(e).__name__ for e in estimators]
    seen: dict[str, int] = {}
    out = {}
    for name, est in zip(names, estimators, strict=True):
        seen[name] = seen.get(name, 0) + 1
        out[name if names.count(name) == 1 else f"{name} ({seen[name]})"] = est
    return out
