"""The ``python -m skmatch`` command line: fit -> recommend -> evaluate, and its errors."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from skmatch._cli._io import coerce_ids
from skmatch._cli._models import model_classes, parse_params
from skmatch.cli import main
from skmatch.datasets import make_interactions
from skmatch.features import Vocabulary
from skmatch.metrics import evaluate
from skmatch.model_selection import leave_last_out_split
from skmatch.models import YoutubeDNN
from skmatch.models._persist import load_model

# One small, fast neural configuration (the CLI is under test, not the model).
_FAST_YTDNN = (
    "--model YoutubeDNN --param n_epochs=1 --param embed_dim=16 --param batch_size=1024 "
    "--param random_state=0"
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Train on one thread: the models here are tiny, and on a busy machine two threads
    waiting on each other made the MovieLens fit several times slower."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def _run(capsys, *parts):
    """``main(argv)`` in-process: (exit code, stdout, stderr).

    String parts are split on whitespace ("fit --model Popularity"); paths and numbers
    are one argument each.
    """
    argv = [w for p in parts for w in (p.split() if isinstance(p, str) else [str(p)])]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _check_recommendations(recs: pd.DataFrame, users, train: pd.DataFrame, k: int) -> None:
    """k rows per user, ranks 1..k, scores sorted, no item of the user's training rows."""
    assert list(recs.columns) == ["user", "rank", "item", "score"]
    assert sorted(recs["user"].unique().tolist()) == sorted(set(users))
    assert (recs.groupby("user").size() == k).all()
    assert all(r == list(range(1, k + 1)) for r in recs.groupby("user")["rank"].apply(list))
    assert (recs.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    seen = recs.merge(train, left_on=["user", "item"], right_on=["user_id", "item_id"])
    assert seen.empty


# ---------------------------------------------------------------------- synthetic data
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Train/test CSVs of synthetic interactions with integer user ids, string item ids."""
    df = make_interactions(n_users=60, n_items=40, n_interests=3, random_state=0)
    df["user_id"] = df["user_id"].str[1:].astype(np.int64)
    train, test = leave_last_out_split(df)
    folder = tmp_path_factory.mktemp("cli")
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return {"dir": folder, "train": train, "test": test}


@pytest.fixture(scope="module")
def pop_file(files):
    """A Popularity model fitted through the command line on the synthetic train CSV."""
    path = files["dir"] / "pop.skm"
    argv = ["fit", "--data", str(files["dir"] / "train.csv"), "--model", "Popularity"]
    assert main([*argv, "--out", str(path)]) == 0
    return path


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "skmatch", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for text in ("fit", "recommend", "evaluate", "examples:"):
        assert text in result.stdout


@pytest.mark.parametrize("command", ["fit", "recommend", "evaluate"])
def test_command_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"python -m skmatch {command} --" in out


def test_fit_help_lists_every_model(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert len(model_classes()) == 13  # the twelve neural models and Popularity
    for name in model_classes():
        assert name in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_synthetic_round_trip(files, capsys):
    folder, train, test = files["dir"], files["train"], files["test"]
    model_path = folder / "ytdnn.skm"
    code, out, err = _run(
        capsys,
        "fit --data", folder / "train.csv", _FAST_YTDNN,
        "--param batch_size=64 --user-features segment",
        "--item-features category --max-seq-len 10 --out", model_path,
    )  # fmt: skip
    assert code == 0, err
    assert "60 users, 40 items" in out and "after 1 epoch" in out
    model = load_model(model_path)
    assert isinstance(model, YoutubeDNN) and model.embed_dim == 16
    assert model.feature_spec_.max_seq_len == 10
    assert model.feature_spec_.item_features == ("category",)

    # ids from argv are strings: they become the integer ids of the fit data
    code, out, err = _run(capsys, "recommend --model-file", model_path, "--users 3 5 -k 4")
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    _check_recommendations(recs, [3, 5], train, k=4)
    ids, scores = model.recommend([3, 5], k=4)
    np.testing.assert_array_equal(recs["item"].to_numpy(), ids.ravel())
    np.testing.assert_allclose(recs["score"].to_numpy(), scores.ravel(), rtol=1e-6)

    # the same users from a text file, one id a line, written to --out
    (folder / "users.txt").write_text("3\n\n5\n")
    out_path = folder / "recs.csv"
    code, out, err = _run(
        capsys, "recommend --model-file", model_path, "--users-file", folder / "users.txt",
        "-k 4 --out", out_path,
    )  # fmt: skip
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_csv(out_path), recs)

    test_path = folder / "test.csv"
    code, out, err = _run(
        capsys, "evaluate --model-file", model_path, "--data", test_path, "-k 5 -k 10 --json"
    )
    assert code == 0, err
    assert json.loads(out) == evaluate(model, test, k=[5, 10])
    code, out, err = _run(capsys, "evaluate --model-file", model_path, "--data", test_path)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["metric", "@10"]
    ndcg = evaluate(model, test, k=10)["ndcg@10"]
    assert ["ndcg", f"{ndcg:.4f}"] in rows


def test_window_defaults_to_the_models(files, tmp_path, capsys):
    """Without --max-seq-len the model's own window: 20 for a multi-interest model."""
    path = tmp_path / "mind.skm"
    code, _, err = _run(capsys, "fit --data", files["dir"] / "train.csv", "--model MIND",
                        "--param n_epochs=1 --param embed_dim=8 --out", path)  # fmt: skip
    assert code == 0, err
    assert load_model(path).feature_spec_.max_seq_len == 20


def test_recommend_filters_seen_items_unless_asked(files, pop_file, capsys):
    train, users = files["train"], files["test"]["user_id"]
    csv_users = files["dir"] / "users.csv"
    files["test"].to_csv(csv_users, index=False)  # a CSV with a user_id column
    code, out, err = _run(capsys, "recommend --model-file", pop_file, "--users-file", csv_users,
                          "-k 5")  # fmt: skip
    assert code == 0, err
    _check_recommendations(pd.read_csv(io.StringIO(out)), users, train, k=5)

    code, out, err = _run(
        capsys, "recommend --model-file", pop_file, "--users 0 1 -k 5 --no-filter-seen"
    )
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    top, _ = load_model(pop_file).recommend([0], k=5, filter_seen=False)
    assert recs["item"].tolist() == top[0].tolist() * 2  # the most popular, seen or not
    assert not recs.merge(train, left_on=["user", "item"], right_on=["user_id", "item_id"]).empty


def test_text_times_are_parsed_as_dates(tmp_path, capsys):
    df = pd.DataFrame(
        {
            "uid": ["a", "a", "b", "b"],
            "sku": [1, 2, 2, 3],
            "ts": ["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-03"],
        }
    )
    df.to_csv(tmp_path / "events.csv", index=False)
    code, _, err = _run(
        capsys, "fit --data", tmp_path / "events.csv", "--model popularity --user-col uid",
        "--item-col sku --time-col ts --out", tmp_path / "m.skm",
    )  # fmt: skip
    assert code == 0, err
    model = load_model(tmp_path / "m.skm")
    assert model.history_.items[:2].tolist() == [3, 2]  # user a: sku 2 (Jan 1), 1 (Jan 2)
    code, out, err = _run(capsys, "recommend --model-file", tmp_path / "m.skm", "--users a -k 1")
    assert code == 0, err
    assert out.splitlines()[1].startswith("a,1,3,")


def test_text_times_with_changing_utc_offsets_are_one_timeline(tmp_path, capsys):
    # offsets that differ between rows (a DST change): 11:30+00:00 is 11:30 UTC, after
    # 12:00+02:00 (10:00 UTC), though its clock time is earlier
    df = pd.DataFrame(
        {
            "user_id": ["a", "a", "a"],
            "item_id": [1, 2, 3],
            "timestamp": ["2024-03-30 12:00+01:00", "2024-04-01 11:30+00:00",
                          "2024-04-01 12:00+02:00"],
        }
    )  # fmt: skip
    df.to_csv(tmp_path / "events.csv", index=False)
    code, _, err = _run(capsys, "fit --data", tmp_path / "events.csv",
                        "--model popularity --out", tmp_path / "m.skm")  # fmt: skip
    assert code == 0, err
    assert load_model(tmp_path / "m.skm").history_.items.tolist() == [2, 4, 3]  # 1, 3, 2 in time


def test_parquet_is_read_when_pandas_can(files, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    files["train"].to_parquet(tmp_path / "train.parquet")
    code, out, err = _run(
        capsys, "fit --data", tmp_path / "train.parquet", "--model Popularity --out",
        tmp_path / "m.skm",
    )  # fmt: skip
    assert code == 0, err
    assert "60 users" in out


def test_params_are_parsed_as_json_else_text():
    pairs = "n_epochs=2 learning_rate=1e-3 hidden_dims=[8,4] device=cpu lr_schedule=null"
    params = parse_params([*pairs.split(), "verbose=true", "n_epochs=3"], YoutubeDNN)
    assert params == {
        "n_epochs": 3,
        "learning_rate": 1e-3,
        "hidden_dims": (8, 4),
        "device": "cpu",
        "lr_schedule": None,
        "verbose": True,
    }
    # Torch-RecHub's names, as the constructors accept them
    aliases = parse_params(["n_epoch=4", "embedding_dim=8", "lr=0.01"], YoutubeDNN)
    assert aliases == {"n_epochs": 4, "embed_dim": 8, "learning_rate": 0.01}
    for both in (["lr=0.1", "learning_rate=0.5"], ["learning_rate=0.5", "lr=0.1"]):
        with pytest.raises(ValueError, match="Pass either 'learning_rate' or its alias 'lr'"):
            parse_params(both, YoutubeDNN)


def test_ids_take_the_type_of_the_vocabulary():
    ints = Vocabulary(np.array([3, 7], dtype=np.int64))
    assert coerce_ids(["7", " 3", 7.0, "x", 7.5], ints).tolist() == [7, 3, 7, "x", 7.5]
    texts = Vocabulary(np.array(["7", "u1"], dtype=object))
    assert coerce_ids([7, "u1", "u2"], texts).tolist() == ["7", "u1", "u2"]
    floats = Vocabulary(np.array([0.5, 1.0]))
    assert coerce_ids(["0.5", "1"], floats).tolist() == [0.5, 1.0]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("--model NoSuchModel", ["'NoSuchModel'", "YoutubeDNN", "Popularity"]),
        (
            "--model SASRec --param no_such=1 --param n_heads=1 --param other=x",
            ["'no_such'", "'other'", "n_heads"],
        ),
        ("--model SASRec --param n_epochs", ["key=value", "'n_epochs'"]),
        ("--model SASRec --param feature_spec=1", ["--user-col"]),
        ("--model SASRec --param embed_dim=-3", ["embed_dim", "-3"]),
        ("--model Popularity --user-col uid", ["'uid'", "'user_id'"]),
        ("--model Popularity --time-col when", ["'when'"]),
    ],
    ids=["model", "param", "no-equals", "feature-spec", "bad-value", "column", "time-column"],
)
def test_fit_errors_exit_2_naming_the_problem(args, expected, files, tmp_path, capsys):
    code, _, err = _run(
        capsys, "fit --data", files["dir"] / "train.csv", args, "--out", tmp_path / "m.skm"
    )
    assert code == 2
    assert err.startswith("skmatch fit: error: ") and "Traceback" not in err
    for text in expected:
        assert text in err
    assert not (tmp_path / "m.skm").exists()


def test_input_file_errors_exit_2(files, tmp_path, capsys):
    fit = ("fit --model Popularity --out", tmp_path / "m.skm", "--data")
    code, _, err = _run(capsys, *fit, tmp_path / "missing.csv")
    assert code == 2 and "No such file" in err and "missing.csv" in err
    (tmp_path / "data.json").write_text("{}")
    code, _, err = _run(capsys, *fit, tmp_path / "data.json")
    assert code == 2 and "data.json" in err and ".parquet" in err
    code, _, err = _run(capsys, "fit --model Popularity --data", files["dir"] / "train.csv",
                        "--out", tmp_path / "no" / "m.skm")  # fmt: skip
    assert code == 2 and "does not exist" in err and "no/m.skm" in err
    (tmp_path / "folder.skm").mkdir()
    code, _, err = _run(capsys, "fit --model Popularity --data", files["dir"] / "train.csv",
                        "--out", tmp_path / "folder.skm")  # fmt: skip
    assert code == 2 and "is a folder" in err
    assert list((tmp_path / "folder.skm").iterdir()) == []  # refused before training
    code, _, err = _run(capsys, "recommend --users 1 --model-file", files["dir"] / "train.csv")
    assert code == 2 and "not a readable skmatch model file" in err


def test_parquet_without_an_engine_is_a_clear_error(tmp_path, capsys):
    for engine in ("pyarrow", "fastparquet"):
        try:
            __import__(engine)
        except ImportError:
            continue
        pytest.skip(f"{engine} is installed")
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    code, _, err = _run(
        capsys, "fit --model Popularity --out", tmp_path / "m.skm", "--data",
        tmp_path / "data.parquet",
    )  # fmt: skip
    assert code == 2 and "pip install pyarrow" in err and "Traceback" not in err


def test_unknown_users_exit_2_naming_them(pop_file, tmp_path, capsys):
    recommend = ("recommend --model-file", pop_file)
    code, out, err = _run(capsys, *recommend, "--users 1 nobody 999")
    assert code == 2 and out == ""
    assert "2 of the 3 user id(s)" in err and "'nobody'" in err and "999" in err
    (tmp_path / "users.csv").write_text("customer,age\n1,30\n")
    code, _, err = _run(capsys, *recommend, "--users-file", tmp_path / "users.csv")
    assert code == 2 and "'user_id'" in err and "--user-col" in err
    code, out, err = _run(
        capsys, *recommend, "--users-file", tmp_path / "users.csv", "--user-col customer -k 2"
    )
    assert code == 0 and len(out.splitlines()) == 3, err


def test_evaluate_without_the_item_column_exits_2(files, pop_file, tmp_path, capsys):
    files["test"].drop(columns="item_id").to_csv(tmp_path / "test.csv", index=False)
    code, _, err = _run(capsys, "evaluate --model-file", pop_file, "--data", tmp_path / "test.csv")
    assert code == 2 and "'item_id'" in err


# ---------------------------------------------------------------------- MovieLens 100K
@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("model", [_FAST_YTDNN, "--model Popularity"], ids=["ytdnn", "pop"])
def test_movielens_round_trip(model, ml100k, tmp_path, capsys):
    train, test = leave_last_out_split(ml100k)
    train.to_csv(tmp_path / "train.csv", index=False)  # every column, titles with commas
    test.to_csv(tmp_path / "test.csv", index=False)
    model_path = tmp_path / "model.skm"
    code, out, err = _run(
        capsys, "fit --data", tmp_path / "train.csv", model, "--out", model_path
    )  # fmt: skip
    assert code == 0, err
    assert f"943 users, {train['item_id'].nunique():,} items" in out

    code, _, err = _run(
        capsys, "recommend --model-file", model_path, "--users-file", tmp_path / "test.csv",
        "-k 10 --out", tmp_path / "recs.csv",
    )  # fmt: skip
    assert code == 0, err
    recs = pd.read_csv(tmp_path / "recs.csv")
    assert len(recs) == 943 * 10
    _check_recommendations(recs, test["user_id"], train, k=10)

    code, out, err = _run(
        capsys, "evaluate --model-file", model_path, "--data", tmp_path / "test.csv",
        "-k 10 20 --json",
    )  # fmt: skip
    assert code == 0, err
    printed = json.loads(out)
    assert printed == evaluate(load_model(model_path), test, k=[10, 20])
    assert printed["ndcg@10"] > 0
