"""Every script in examples/ runs as a newcomer would run it (with --small: seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.examples  # subprocesses: deselected by make test-fast

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# what each example must print (a sign that it did what it says)
EXPECT = {
    "quick_start.py": ["SASRec", "NDCG@10", "Top 5 for user", "Training curve saved"],
    "grid_search.py": ["Best:", "Test NDCG@10", "Recall@k against k saved"],
    "multi_interest.py": ["interest 0", "stands for", "merged top 5", "diversity=0.5"],
    "new_users.py": ["Embedded 3 new users", "New user"],
    "similar_items.py": ["Most similar to"],
    "save_load.py": ["save/load", "joblib", "Parameters survive both: True"],
    "onnx_serving.py": ["user tower inputs", "Same as recommend: True"],
    "gpu_training.py": ["Training on", "same recommendations as on"],
    "distributed_training.py": ["Trained on 1 process(es)", "Saved by rank 0"],
}
PNGS = {"quick_start.py": "quick_start_training_curve.png",
        "grid_search.py": "grid_search_recall_at_k.png"}  # fmt: skip


def test_every_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts - {"demo.py"} == set(EXPECT)  # demo.py is `make demo`


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_example_runs(name, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--small", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for text in EXPECT[name]:
        assert text in done.stdout, f"{name} did not print {text!r}:\n{done.stdout[-2000:]}"
    if name in PNGS:
        assert (tmp_path / PNGS[name]).stat().st_size > 1000
