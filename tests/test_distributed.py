"""Data-parallel training: shards, gathered candidates, and real 2-process gloo runs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from skmatch.index import DeferredIndex, ExactIndex, HNSWIndex
from skmatch.training import distributed as ddp

SCRIPT = Path(__file__).with_name("ddp_script.py")


def torchrun(out: Path, n_procs: int, model: str, *params: str) -> dict[int, dict]:
    """Run ``ddp_script.py`` under torchrun; every rank's results by rank."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={n_procs}", str(SCRIPT), str(out), model, *params]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"torchrun failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return {r: dict(np.load(out / f"rank{r}.npz")) for r in range(n_procs)}


def single(out: Path, model: str, *params: str) -> dict:
    """The same script in one plain process (no process group)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(SCRIPT), str(out), model, *params]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return dict(np.load(out / "rank0.npz"))


# ---------------------------------------------------------------- single-process units
@pytest.mark.parametrize("n", [0, 1, 5, 10, 11])
@pytest.mark.parametrize("size", [2, 3])
def test_shard_is_distributed_samplers_cut(n, size):
    order = np.random.default_rng(0).permutation(n)
    for rank in range(size):
        sampler = DistributedSampler(range(n), num_replicas=size, rank=rank, shuffle=False)
        expected = order[np.fromiter(sampler, dtype=np.int64, count=len(sampler))]
        np.testing.assert_array_equal(ddp.shard(order, rank, size), expected)
    parts = [ddp.shard(order, r, size) for r in range(size)]
    assert len({p.size for p in parts}) == 1  # the same number of batches on every rank
    assert set(np.concatenate(parts).tolist()) == set(order.tolist())


def test_single_process_is_the_identity():
    assert ddp.world() == (0, 1) and ddp.is_main_process()
    codes, vecs = torch.arange(4), torch.randn(4, 3, requires_grad=True)
    got_codes, got_vecs = ddp.gather_candidates(codes, vecs)
    assert got_codes is codes and got_vecs is vecs
    order = np.arange(7)
    assert ddp.shard(order, 0, 1) is order
    assert ddp.init_from_env(torch.device("cpu")) == torch.device("cpu")


def test_launcher_without_rendezvous_variables_is_explained(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="RANK, MASTER_ADDR, MASTER_PORT is not set"):
        ddp.init_from_env(torch.device("cpu"))


def test_state_seed_does_not_draw():
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    seed = ddp.state_seed(rng)
    assert rng.bit_generator.state == before and seed == ddp.state_seed(rng)
    rng.integers(10)
    assert ddp.state_seed(rng) != seed


@pytest.mark.parametrize("inner", [ExactIndex(), HNSWIndex(random_state=0)], ids=["exact", "hnsw"])
def test_deferred_index_builds_on_first_search(inner):
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    queries = vectors[:5] + 0.01
    deferred = DeferredIndex(inner).fit(vectors)
    assert not hasattr(deferred, "built_")  # nothing built at fit
    clone = pickle.loads(pickle.dumps(deferred))
    expected = type(inner)(**inner.get_params()).fit(vectors).search(queries, 4, exclude=[[0]] * 5)
    for index in (deferred, clone):
        got = index.search(queries, 4, exclude=[[0]] * 5)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-6)
    assert isinstance(deferred.built_, type(inner))
    with pytest.raises(TypeError, match="index must be a skmatch index"):
        DeferredIndex("hnsw").fit(vectors)


# ---------------------------------------------------------------- 2 processes, gloo
def _collectives(rank: int, store: str, out: str) -> None:
    """One rank of test_collectives_across_two_ranks."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    cpu, result = torch.device("cpu"), {}
    try:
        full = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        lo, n = (0, 3) if rank == 0 else (3, 5)  # unequal rows, as windows give
        mine = full[lo : lo + n].clone().requires_grad_(True)
        codes, gathered = ddp.gather_candidates(torch.arange(10 + lo, 10 + lo + n), mine)
        # each rank's loss reaches every gathered row, with its own weights
        weight = torch.arange(1.0, 9.0, dtype=torch.float64).unsqueeze(1) * (rank + 1)
        (gathered * weight).pow(2).sum().backward()
        result.update(codes=codes, gathered=gathered.detach(), grad=mine.grad, lo=lo, n=n)
        result["seed"] = ddp.common_seed(None, cpu)
        result["kept_seed"] = ddp.common_seed(7, cpu)
        result["share"] = ddp.share_of_rows(n, cpu)
        result["mean"] = float(ddp.mean_over_ranks(torch.tensor(float(rank))))
        result["main"] = ddp.from_main(float(rank + 10), cpu)
        try:
            ddp.check_same([1, rank], "a test value", cpu)
        except ValueError as exc:
            result["error"] = str(exc)
    finally:
        dist.destroy_process_group()
    torch.save(result, f"{out}/rank{rank}.pt")


@pytest.mark.torchrun
def test_collectives_across_two_ranks(tmp_path):
    mp.spawn(_collectives, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    full = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for r in ranks:
        assert r["codes"].tolist() == list(range(10, 18))  # rank order, no padding rows
        torch.testing.assert_close(r["gathered"], full)
        # d/dx of sum over ranks r' of (x * w_r')^2: 2 x (i + 1)^2 (1 + 4), row i global
        rows = torch.arange(r["lo"], r["lo"] + r["n"], dtype=torch.float64).unsqueeze(1)
        expected = 10 * full[r["lo"] : r["lo"] + r["n"]] * (rows + 1) ** 2
        torch.testing.assert_close(r["grad"], expected)
        assert r["share"] == pytest.approx(r["n"] * 2 / 8)
        assert r["mean"] == 0.5 and r["main"] == 10.0 and r["kept_seed"] == 7
        assert "disagree with rank 0 on a test value: [1, 1] against [1, 0]" in r["error"]
    assert ranks[0]["seed"] == ranks[1]["seed"] and isinstance(ranks[0]["seed"], int)


@pytest.mark.torchrun
def test_two_ranks_equal_one_process_with_twice_the_batch(tmp_path):
    """Rank r takes positions r, r+2, ... of the epoch's permutation, so a step of two
    ranks with batch 64 sees the rows of a single process's step with batch 128; with
    in-batch negatives gathered across ranks and gradients averaged, the training is
    the same up to float rounding."""
    params = ("n_epochs=3", "rows=2560")  # a whole number of batches
    one = single(tmp_path / "one", "YoutubeDNN", "batch_size=128", *params)
    two = torchrun(tmp_path / "two", 2, "YoutubeDNN", "batch_size=64", *params)
    for rank in (0, 1):  # both ranks hold the same model
        np.testing.assert_array_equal(two[rank]["item_vectors"], two[0]["item_vectors"])
        np.testing.assert_array_equal(two[rank]["loss_curve"], two[0]["loss_curve"])
        assert int(two[rank]["world_size"]) == 2
    np.testing.assert_allclose(two[0]["loss_curve"], one["loss_curve"], rtol=1e-5)
    np.testing.assert_allclose(two[0]["item_vectors"], one["item_vectors"], atol=1e-4)
    assert str(two[0]["index"]) == "ExactIndex"  # rank 0 built the index ...
    assert str(two[1]["index"]) == "DeferredIndex"  # ... the others defer theirs
    np.testing.assert_array_equal(two[0]["recs"], one["recs"])

    # interrupted after 2 of the 3 epochs, resumed on both ranks: the same model
    ckpt = f"checkpoint_dir={tmp_path / 'ckpt'}"
    torchrun(tmp_path / "first", 2, "YoutubeDNN", "batch_size=64", "rows=2560", "n_epochs=2", ckpt)
    resumed = torchrun(tmp_path / "resumed", 2, "YoutubeDNN", "batch_size=64", *params, ckpt,
                       "warm_start=True")  # fmt: skip
    np.testing.assert_array_equal(resumed[0]["item_vectors"], two[0]["item_vectors"])
    np.testing.assert_array_equal(resumed[1]["loss_curve"], two[0]["loss_curve"])


@pytest.mark.torchrun
def test_two_ranks_reach_single_process_quality_on_windows(tmp_path):
    """SASRec trains on whole windows, so the ranks gather different numbers of
    in-batch candidates per step; dropout differs per rank. Same quality, not the same
    weights; the checkpoint is written once, by rank 0, each epoch."""
    params = ("n_epochs=20", "negatives=in_batch")
    one = single(tmp_path / "one", "SASRec", "batch_size=64", *params)
    ckpt_dir = tmp_path / "ckpt"
    two = torchrun(tmp_path / "two", 2, "SASRec", "batch_size=32", f"checkpoint_dir={ckpt_dir}",
                   *params)  # fmt: skip
    np.testing.assert_array_equal(two[1]["item_vectors"], two[0]["item_vectors"])
    assert float(two[0]["ndcg"]) >= 0.9 * float(one["ndcg"]), (two[0]["ndcg"], one["ndcg"])
    state = torch.load(ckpt_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 20 and len(state["loss_curve"]) == 20


@pytest.mark.torchrun
def test_ranks_with_different_data_are_refused(tmp_path):
    with pytest.raises(AssertionError, match="disagree with rank 0 on the interactions"):
        torchrun(tmp_path, 2, "YoutubeDNN", "n_epochs=1", "differ=True")
