"""skmatch.plotting: the curves drawn are the fitted estimators' own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import Popularity, YoutubeDNN

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from skmatch.plotting import plot_recall_at_k, plot_training_curves  # noqa: E402


@pytest.fixture(scope="module")
def fitted(synthetic):
    train, test = leave_last_out_split(synthetic)
    model = YoutubeDNN(embed_dim=8, n_epochs=3, early_stopping=True, random_state=0,
                       device="cpu").fit(train)  # fmt: skip
    return model, Popularity().fit(train), test


def test_training_curves_plot_the_loss_and_validation_scores(fitted):
    model, _, _ = fitted
    ax = plot_training_curves(model)
    (loss,) = ax.get_lines()
    np.testing.assert_allclose(loss.get_ydata(), model.loss_curve_)
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(model.validation_scores_) > 0 and len(twin) == 1
    np.testing.assert_allclose(twin[0].get_lines()[0].get_ydata(), model.validation_scores_)
    assert ax.get_title() == "YoutubeDNN"


def test_training_curves_need_a_neural_estimator(fitted):
    _, popularity, _ = fitted
    with pytest.raises(ValueError, match="loss_curve_"):
        plot_training_curves(popularity)


def test_recall_at_k_equals_evaluate(fitted):
    model, popularity, test = fitted
    ax, recalls = plot_recall_at_k({"ytdnn": model, "pop": popularity}, test, ks=(20, 5, 1))
    expected = evaluate(model, test, k=(1, 5, 20))
    np.testing.assert_allclose(recalls["ytdnn"], [expected[f"recall@{k}"] for k in (1, 5, 20)])
    assert [line.get_label() for line in ax.get_lines()] == ["ytdnn", "pop"]
    assert np.all(np.diff(recalls["pop"]) >= 0)  # recall never falls as k grows
    _, by_class = plot_recall_at_k([popularity], test, ks=(5,))
    assert list(by_class) == ["Popularity"]


def test_recall_at_k_rejects_bad_arguments(fitted):
    model, _, test = fitted
    with pytest.raises(ValueError, match="at least one"):
        plot_recall_at_k({}, test)
    with pytest.raises(ValueError, match="positive"):
        plot_recall_at_k([model], test, ks=(0, 10))
    with pytest.raises(ValueError, match=r"positive integers; got \[1.7\]"):
        plot_recall_at_k([model], test, ks=(1.7, 5))


def test_recall_at_k_keeps_every_estimator_of_one_class(fitted):
    model, popularity, test = fitted
    _, recalls = plot_recall_at_k([popularity, model, popularity], test, ks=(5,))
    assert list(recalls) == ["Popularity (1)", "YoutubeDNN", "Popularity (2)"]


def test_recall_at_k_default_ks_fit_the_smallest_catalogue(fitted):
    from sklearn.pipeline import make_pipeline

    from skmatch import FeatureSpec
    from skmatch.datasets import make_interactions

    model, popularity, test = fitted  # 200 items: every default k
    _, recalls = plot_recall_at_k([model, popularity], test)
    assert all(r.shape == (6,) for r in recalls.values())
    small = make_interactions(n_users=40, n_items=30, random_state=1)
    train, held = leave_last_out_split(small)
    pipe = make_pipeline(FeatureSpec(), Popularity()).fit(train)
    ax, recalls = plot_recall_at_k([pipe], held)  # 30 items: no k of 50 or 100
    assert [int(t) for t in ax.get_xticks()] == [1, 5, 10, 20]
    expected = evaluate(pipe, held, k=(1, 5, 10, 20))
    np.testing.assert_allclose(
        recalls["Pipeline"], [expected[f"recall@{k}"] for k in (1, 5, 10, 20)]
    )
