"""Checkpoints and warm_start: an interrupted fit resumes and ends where an uninterrupted
one ends (bit for bit on CPU), and bad checkpoints give clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from skmatch.datasets import make_interactions
from skmatch.models import SASRec, YoutubeDNN, YoutubeSBC
from skmatch.training.checkpoint import checkpoint_path

FAST = dict(embed_dim=16, batch_size=64, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    return make_interactions(n_users=200, n_items=120, random_state=3)


def _same_fit(a, b):
    assert a.n_iter_ == b.n_iter_
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.transform_items(), b.transform_items())


# SASRec draws dropout masks from torch's RNG, YoutubeDNN uniform negatives from numpy's
@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: SASRec(**FAST, **kw),
        lambda **kw: YoutubeDNN(negatives="uniform", **FAST, **kw),
        lambda **kw: YoutubeSBC(**FAST, **kw),  # its streaming frequency estimate
    ],
    ids=["SASRec", "YoutubeDNN", "YoutubeSBC"],
)
def test_resumed_fit_equals_uninterrupted_fit(make, data, tmp_path):
    whole = make(n_epochs=4).fit(data)
    first = make(n_epochs=2, checkpoint_dir=tmp_path).fit(data)  # as if stopped after 2
    assert first.n_iter_ == 2 and checkpoint_path(tmp_path).exists()
    resumed = make(n_epochs=4, checkpoint_dir=tmp_path, warm_start=True).fit(data)
    _same_fit(resumed, whole)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary file


def test_early_stopping_state_survives(data, tmp_path):
    kw = dict(early_stopping=True, n_iter_no_change=1, **FAST)
    whole = YoutubeDNN(n_epochs=6, **kw).fit(data)
    YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path, **kw).fit(data)
    resumed = YoutubeDNN(n_epochs=6, checkpoint_dir=tmp_path, warm_start=True, **kw).fit(data)
    assert resumed.validation_scores_ == whole.validation_scores_
    assert resumed.best_epoch_ == whole.best_epoch_
    _same_fit(resumed, whole)


def test_warm_start_without_checkpoint_trains_from_scratch(data, tmp_path):
    fresh = YoutubeDNN(n_epochs=2, **FAST).fit(data)
    warm = YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path / "new", warm_start=True, **FAST)
    _same_fit(warm.fit(data), fresh)


def test_bad_checkpoints_are_refused(data, tmp_path):
    YoutubeDNN(n_epochs=1, checkpoint_dir=tmp_path, **FAST).fit(data)
    with pytest.raises(ValueError, match="another model, other parameters or other data"):
        YoutubeDNN(n_epochs=2, embed_dim=8, batch_size=64, random_state=0, device="cpu",
                   checkpoint_dir=tmp_path, warm_start=True).fit(data)  # fmt: skip
    with pytest.raises(ValueError, match="another model, other parameters or other data"):
        YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path, warm_start=True, **FAST).fit(
            data.iloc[:-50]
        )
    checkpoint_path(tmp_path).write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not a readable skmatch checkpoint"):
        YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path, warm_start=True, **FAST).fit(data)
    torch.save({"something": "else"}, checkpoint_path(tmp_path))
    with pytest.raises(ValueError, match="not a skmatch checkpoint"):
        YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path, warm_start=True, **FAST).fit(data)
    with pytest.raises(ValueError, match="set checkpoint_dir"):
        YoutubeDNN(warm_start=True, **FAST).fit(data)
    with pytest.raises(TypeError, match="checkpoint_dir must be a path"):
        YoutubeDNN(checkpoint_dir=3, **FAST).fit(data)


def test_corrupt_checkpoint_message_never_suggests_unsafe_loading(data, tmp_path):
    checkpoint_path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path(tmp_path).write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not a readable") as info:
        YoutubeDNN(n_epochs=2, checkpoint_dir=tmp_path, warm_start=True, **FAST).fit(data)
    assert "weights_only" not in str(info.value)


def test_checkpoint_of_other_weights_or_side_features_is_refused(data, tmp_path):
    from skmatch import FeatureSpec

    spec = FeatureSpec(item_features=["category"])
    kw = dict(n_epochs=1, checkpoint_dir=tmp_path, feature_spec=spec, **FAST)
    YoutubeDNN(**kw).fit(data.assign(weight=1.0))
    other = "another model, other parameters or other data"
    with pytest.raises(ValueError, match=other):
        YoutubeDNN(warm_start=True, **kw).fit(data.assign(weight=np.linspace(0.1, 5, len(data))))
    shuffled = data.assign(weight=1.0)  # the same rows, item categories reassigned
    shuffled["category"] = np.random.default_rng(0).permutation(shuffled["category"].to_numpy())
    with pytest.raises(ValueError, match=other):
        YoutubeDNN(warm_start=True, **kw).fit(shuffled)


def test_checkpoint_dir_that_is_a_file_is_refused_before_training(data, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    est = YoutubeDNN(n_epochs=1, checkpoint_dir=path, **FAST)
    with pytest.raises(ValueError, match="checkpoint_dir must be a directory"):
        est.fit(data)
    assert not hasattr(est, "loss_curve_")


SCRIPT = """
import torch
torch.set_num_threads(1)
from skmatch.datasets import make_interactions
from skmatch.models import SASRec
df = make_interactions(n_users=600, n_items=300, random_state=3)
SASRec(n_epochs={n_epochs}, embed_dim=32, batch_size=32, lr_schedule="linear", random_state=0,
       device="cpu", checkpoint_dir={ckpt!r}).fit(df)
"""

@pytest.mark.slow

def test_killed_fit_resumes_losing_at_most_one_epoch(tmp_path):
    n_epochs = 12
    code = textwrap.dedent(SCRIPT.format(n_epochs=n_epochs, ckpt=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 300
        while not checkpoint_path(tmp_path).exists():  # wait for the first epoch to end
            assert proc.poll() is None, "the fitting process ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.02)
        time.sleep(0.5)  # into a later epoch
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    done = torch.load(checkpoint_path(tmp_path), weights_only=True)["epoch"]
    assert 1 <= done < n_epochs, "the fit was not interrupted"
    df = make_interactions(n_users=600, n_items=300, random_state=3)
    kw = dict(n_epochs=n_epochs, embed_dim=32, batch_size=32, lr_schedule="linear",
              random_state=0, device="cpu")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed process: the same float sums
    try:
        resumed = SASRec(checkpoint_dir=tmp_path, warm_start=True, **kw).fit(df)
        whole = SASRec(**kw).fit(df)
    finally:
        torch.set_num_threads(threads)
    _same_fit(resumed, whole)
