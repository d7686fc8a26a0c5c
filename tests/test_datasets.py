"""Tests of skmatch.datasets: loaders, data home, checksums, downloads, synthetic data."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skmatch.datasets import (
    _amazon,
    _movielens,
    clear_data_home,
    get_data_home,
    load_amazon_beauty,
    load_movielens,
    make_interactions,
)
from skmatch.datasets._base import _RemoteFile
from skmatch.exceptions import DataError

ML_COLUMNS = [
    "user_id",
    "item_id",
    "rating",
    "timestamp",
    "gender",
    "age",
    "occupation",
    "zip",
    "title",
    "genres",
]
ML_INT_COLUMNS = ["user_id", "item_id", "rating", "timestamp", "age"]
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
BEAUTY_URL = "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/Beauty.txt"


def _assert_str_column(series: pd.Series) -> None:
    assert pd.api.types.is_string_dtype(series), series.dtype
    assert series.map(type).eq(str).all()


# --- MovieLens and Beauty on the real files -----------------------------------------------


@pytest.mark.realdata
def test_ml100k_counts_columns_dtypes(ml100k):
    assert ml100k.shape == (100_000, 10)
    assert ml100k["user_id"].nunique() == 943
    assert ml100k["item_id"].nunique() == 1682
    assert ml100k.columns.tolist() == ML_COLUMNS
    for column in ML_INT_COLUMNS:
        assert ml100k[column].dtype == np.int64, column
    for column in ["gender", "occupation", "zip", "title", "genres"]:
        _assert_str_column(ml100k[column])
    assert not ml100k.isna().any().any()
    assert set(ml100k["rating"].unique()) == {1, 2, 3, 4, 5}


@pytest.mark.realdata
def test_ml100k_row_order_and_features(ml100k):
    # The first line of u.data is "196 242 3 881250949"; user 196 is "49|M|writer|55105".
    first = ml100k.iloc[0]
    assert (first["user_id"], first["item_id"], first["rating"]) == (196, 242, 3)
    assert first["timestamp"] == 881250949
    assert (first["age"], first["gender"], first["occupation"], first["zip"]) == (
        49,
        "M",
        "writer",
        "55105",
    )
    toy_story = ml100k.loc[ml100k["item_id"] == 1].iloc[0]
    assert toy_story["title"] == "Toy Story (1995)"
    assert toy_story["genres"] == "Animation|Children's|Comedy"
    golden_eye = ml100k.loc[ml100k["item_id"] == 2].iloc[0]
    assert golden_eye["genres"] == "Action|Adventure|Thriller"


@pytest.mark.realdata
def test_ml100k_repeated_load_is_equal(ml100k):
    again = load_movielens("100k", download_if_missing=False)
    pd.testing.assert_frame_equal(again, ml100k)


@pytest.mark.realdata
def test_beauty_counts_and_positions(beauty):
    assert beauty.shape == (198_502, 3)
    assert beauty.columns.tolist() == ["user_id", "item_id", "timestamp"]
    assert (beauty.dtypes == np.int64).all()
    assert beauty["user_id"].nunique() == 22_363
    assert beauty["item_id"].nunique() == 12_101
    positions = beauty.groupby("user_id", sort=False).cumcount().to_numpy()
    np.testing.assert_array_equal(beauty["timestamp"].to_numpy(), positions)
    # First line of Beauty.txt: "1 1 2 3 4 5".
    head = beauty.iloc[:6]
    assert head["user_id"].tolist() == [1] * 5 + [2]
    assert head["item_id"].tolist() == [1, 2, 3, 4, 5, 6]


# --- data home ----------------------------------------------------------------------------


def test_data_home_from_argument_env_and_default(tmp_path, monkeypatch):
    target = tmp_path / "from_arg" / "nested"
    assert get_data_home(target) == target
    assert target.is_dir()
    assert get_data_home(str(target)) == target

    env_home = tmp_path / "from_env"
    monkeypatch.setenv("SKMATCH_DATA_HOME", str(env_home))
    assert get_data_home() == env_home
    assert env_home.is_dir()
    assert get_data_home(target) == target  # the argument wins over the environment

    monkeypatch.delenv("SKMATCH_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_data_home() == tmp_path / "home" / "skmatch_data"
    assert get_data_home("~/elsewhere") == tmp_path / "home" / "elsewhere"


def test_data_home_existing_read_only(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        assert get_data_home(read_only) == read_only
    finally:
        read_only.chmod(0o755)


def test_uncreatable_data_home_raises_data_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="Cannot create the data home") as info:
        load_amazon_beauty(data_home=blocker / "home", download_if_missing=False)
    assert str(blocker / "home") in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


def test_clear_data_home(tmp_path):
    home = get_data_home(tmp_path / "home")
    (home / "ml-100k").mkdir()
    (home / "ml-100k" / "u.data").write_text("1\t2\t3\t4\n")
    clear_data_home(home)
    assert not home.exists()


def test_data_home_refuses_empty_paths_and_clear_refuses_cwd_home_and_root(
    tmp_path, monkeypatch
):
    keep = tmp_path / "precious.txt"
    keep.write_text("keep me")
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="empty path"):
            clear_data_home(empty)
        with pytest.raises(ValueError, match="empty path"):
            get_data_home(empty)
    for folder in (tmp_path, tmp_path.parent, Path.home(), Path(tmp_path.anchor)):
        with pytest.raises(ValueError, match="Refusing to delete"):
            clear_data_home(folder)
    assert keep.read_text() == "keep me"


# --- checksums, missing files, downloads ----------------------------------------------------


def _copy_ml100k(tmp_path: Path) -> Path:
    source = get_data_home() / "ml-100k"
    if not (source / "u.data").is_file():
        pytest.skip(f"ml-100k not found in SKMATCH_DATA_HOME={get_data_home()}")
    home = tmp_path / "home"
    shutil.copytree(source, home / "ml-100k")
    for path in (home / "ml-100k").iterdir():
        path.chmod(0o644)
    return home


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["u.data", "u.item", "u.genre"])
def test_corrupted_file_raises(tmp_path, name):
    home = _copy_ml100k(tmp_path)
    pd.testing.assert_frame_equal(
        load_movielens(data_home=home, download_if_missing=False).iloc[:5],
        load_movielens(download_if_missing=False).iloc[:5],
    )
    path = home / "ml-100k" / name
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01  # same size, one bit flipped: the cached digest must not be reused
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the mtime restored
    expected = _movielens._ML100K_FILES[name]
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(DataError, match="Checksum mismatch") as info:
        load_movielens(data_home=home, download_if_missing=False)
    message = str(info.value)
    assert str(path) in message
    assert expected in message and actual in message
    assert "Delete" in message and "re-download" in message


@pytest.mark.parametrize(
    ("loader", "folder", "files", "url"),
    [
        (lambda **kw: load_movielens("100k", **kw), "ml-100k", ["u.data", "u.item"], ML100K_URL),
        (lambda **kw: load_movielens("1m", **kw), "ml-1m", ["ratings.dat", "users.dat"], ML1M_URL),
        (load_amazon_beauty, "amazon-beauty-5core", ["Beauty.txt"], BEAUTY_URL),
    ],
)
def test_missing_files_without_download(tmp_path, loader, folder, files, url):
    with pytest.raises(DataError, match="not found") as info:
        loader(data_home=tmp_path, download_if_missing=False)
    message = str(info.value)
    assert str(tmp_path / folder) in message
    assert all(name in message for name in files)
    assert url in message
    assert "download_if_missing=True" in message


@pytest.mark.parametrize(
    ("loader", "url"),
    [
        (lambda **kw: load_movielens("100k", **kw), ML100K_URL),
        (lambda **kw: load_movielens("1m", **kw), ML1M_URL),
        (load_amazon_beauty, BEAUTY_URL),
    ],
)
def test_failed_download_raises_with_url(tmp_path, monkeypatch, loader, url):
    requested = []

    def no_network(request_url, *args, **kwargs):
        requested.append(request_url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match="Could not download") as info:
        loader(data_home=tmp_path)
    assert requested == [url]
    assert url in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def _serve(monkeypatch, payload: bytes) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **kw: io.BytesIO(payload))


def test_download_with_wrong_content_is_rejected(tmp_path, monkeypatch):
    _serve(monkeypatch, b"1 2 3\n")
    with pytest.raises(DataError, match="Checksum mismatch") as info:
        load_amazon_beauty(data_home=tmp_path)
    assert _amazon._BEAUTY.sha256 in str(info.value)
    assert not (tmp_path / "amazon-beauty-5core" / "Beauty.txt").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.realdata
def test_beauty_download_success(tmp_path, monkeypatch, beauty):
    payload = (get_data_home() / "amazon-beauty-5core" / "Beauty.txt").read_bytes()
    _serve(monkeypatch, payload)
    df = load_amazon_beauty(data_home=tmp_path)
    assert (tmp_path / "amazon-beauty-5core" / "Beauty.txt").read_bytes() == payload
    pd.testing.assert_frame_equal(df, beauty)


@pytest.mark.realdata
def test_ml100k_download_extract_and_verify(tmp_path, monkeypatch, ml100k):
    source = get_data_home() / "ml-100k"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ["u.data", "u.user", "u.item", "u.genre", "README"]:
            zf.writestr(f"ml-100k/{name}", (source / name).read_bytes())
    payload = buffer.getvalue()
    remote = _RemoteFile(ML100K_URL, "ml-100k.zip", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(_movielens, "_ML100K_ZIP", remote)
    _serve(monkeypatch, payload)
    df = load_movielens("100k", data_home=tmp_path)
    pd.testing.assert_frame_equal(df, ml100k)
    assert not (tmp_path / "ml-100k.zip").exists()


def _fake_ml1m_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "2::20::5::978300760\n1::10::3::978302109\n")
        zf.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
        zf.writestr(
            "ml-1m/movies.dat",
            "10::Café Society: Part 2 (1995)::Comedy|Drama\n20::Heat (1995)::Action\n".encode(
                "latin-1"
            ),
        )
        zf.writestr("ml-1m/README", "fake")
    return buffer.getvalue()


def test_ml1m_download_extract_and_parse(tmp_path, monkeypatch):
    payload = _fake_ml1m_zip()
    remote = _RemoteFile(
        url=ML1M_URL, filename="ml-1m.zip", sha256=hashlib.sha256(payload).hexdigest()
    )
    monkeypatch.setattr(_movielens, "_ML1M_ZIP", remote)
    _serve(monkeypatch, payload)
    df = load_movielens("1m", data_home=tmp_path)
    assert sorted(p.name for p in (tmp_path / "ml-1m").iterdir()) == [
        "movies.dat",
        "ratings.dat",
        "users.dat",
    ]
    assert not (tmp_path / "ml-1m.zip").exists()  # the archive is removed once extracted
    assert df.columns.tolist() == ML_COLUMNS
    assert df["user_id"].tolist() == [2, 1]  # the ratings file's order
    assert df["title"].tolist() == ["Heat (1995)", "Café Society: Part 2 (1995)"]
    assert df["genres"].tolist() == ["Action", "Comedy|Drama"]
    assert df["occupation"].tolist() == ["self-employed", "K-12 student"]
    assert df["zip"].tolist() == ["70072", "48067"]
    assert df["age"].tolist() == [56, 1]
    for column in ML_INT_COLUMNS:
        assert df[column].dtype == np.int64, column

    monkeypatch.setattr(urllib.request, "urlopen", None)  # now read from disk only
    pd.testing.assert_frame_equal(load_movielens("1m", data_home=tmp_path), df)


def test_ml1m_download_with_wrong_archive_hash(tmp_path, monkeypatch):
    _serve(monkeypatch, _fake_ml1m_zip())  # the real pinned hash cannot match
    with pytest.raises(DataError, match="Checksum mismatch"):
        load_movielens("1m", data_home=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_beauty_parser_handles_irregular_whitespace(tmp_path, monkeypatch):
    folder = tmp_path / "amazon-beauty-5core"
    folder.mkdir()
    (folder / "Beauty.txt").write_bytes(b"7 5 6\r\n\n8 9 \n9\n10 3  4 5")
    monkeypatch.setattr(_amazon, "_BEAUTY", _RemoteFile(BEAUTY_URL, "Beauty.txt", None))
    df = load_amazon_beauty(data_home=tmp_path, download_if_missing=False)
    expected = pd.DataFrame(
        {
            "user_id": [7, 7, 8, 10, 10, 10],
            "item_id": [5, 6, 9, 3, 4, 5],
            "timestamp": [0, 1, 0, 0, 1, 2],
        }
    )
    pd.testing.assert_frame_equal(df, expected)

    (folder / "Beauty.txt").write_bytes(b"1 2 x3\n")
    with pytest.raises(DataError, match="not an integer"):
        load_amazon_beauty(data_home=tmp_path, download_if_missing=False)


@pytest.mark.parametrize("variant", ["100K", "ml-100k", "20m", ""])
def test_bad_variant(variant, tmp_path):
    with pytest.raises(ValueError, match=r"variant must be one of \['100k', '1m'\]"):
        load_movielens(variant, data_home=tmp_path)


def test_variant_wrong_type(tmp_path):
    with pytest.raises(TypeError, match="variant must be a str"):
        load_movielens(100, data_home=tmp_path)


# --- make_interactions ----------------------------------------------------------------------


def test_make_interactions_seeded():
    a = make_interactions(n_users=50, n_items=60, n_interests=3, random_state=7)
    b = make_interactions(n_users=50, n_items=60, n_interests=3, random_state=7)
    c = make_interactions(n_users=50, n_items=60, n_interests=3, random_state=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    rng = np.random.default_rng(3)
    d = make_interactions(n_users=50, n_items=60, n_interests=3, random_state=rng)
    e = make_interactions(n_users=50, n_items=60, n_interests=3, random_state=3)
    pd.testing.assert_frame_equal(d, e)


def test_make_interactions_does_not_touch_global_state():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    make_interactions(n_users=20, n_items=30, random_state=None)
    assert np.random.random() == before


def test_make_interactions_shapes(synthetic):
    df = synthetic
    assert df.columns.tolist() == ["user_id", "item_id", "timestamp", "category", "segment"]
    assert df["timestamp"].dtype == np.int64
    for column in ["user_id", "item_id", "category", "segment"]:
        _assert_str_column(df[column])
    assert df["user_id"].nunique() == 300
    assert set(df["category"]) == {"c0", "c1", "c2", "c3"}
    assert set(df["segment"]) <= {"s0", "s1", "s2", "s3"}
    assert df["item_id"].str.fullmatch(r"i\d+").all()
    assert df["item_id"].str.slice(1).astype(int).between(0, 199).all()
    lengths = df.groupby("user_id").size()
    assert lengths.between(20, 60).all()
    # Sorted by user (numeric order) then strictly increasing time.
    user_number = df["user_id"].str.slice(1).astype(int).to_numpy()
    assert (np.diff(user_number) >= 0).all()
    same_user = np.diff(user_number) == 0
    assert (np.diff(df["timestamp"].to_numpy())[same_user] > 0).all()
    # An item has one category; a user has one segment.
    assert df.groupby("item_id")["category"].nunique().eq(1).all()
    assert df.groupby("user_id")["segment"].nunique().eq(1).all()


def test_make_interactions_interest_counts():
    one = make_interactions(
        n_users=100, n_items=100, n_interests=5, interests_per_user=(1, 1), random_state=0
    )
    assert one.groupby("user_id")["category"].nunique().eq(1).all()
    many = make_interactions(
        n_users=100,
        n_items=100,
        n_interests=5,
        interests_per_user=(3, 3),
        seq_len=(80, 80),
        p_switch=0.3,
        random_state=0,
    )
    per_user = many.groupby("user_id")["category"].nunique()
    assert per_user.le(3).all() and per_user.max() == 3
    assert many.groupby("user_id").size().eq(80).all()


def test_make_interactions_edge_sizes():
    df = make_interactions(
        n_users=1, n_items=1, n_interests=1, interests_per_user=(1, 1), seq_len=(1, 1)
    )
    assert df[["user_id", "item_id", "category"]].values.tolist() == [["u0", "i0", "c0"]]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_users": 0}, ValueError, "n_users must be >= 1; got n_users=0"),
        ({"n_users": 2.5}, TypeError, "n_users must be an int"),
        ({"n_interests": 0}, ValueError, "n_interests"),
        ({"n_items": 3, "n_interests": 5}, ValueError, "n_items must be >= n_interests=5"),
        ({"interests_per_user": (0, 2)}, ValueError, "interests_per_user"),
        ({"interests_per_user": (3, 2)}, ValueError, "interests_per_user"),
        ({"interests_per_user": (1, 9)}, ValueError, r"interests_per_user.*\(1, 9\)"),
        ({"interests_per_user": 2}, TypeError, "interests_per_user must be a pair"),
        ({"seq_len": (0, 5)}, ValueError, "seq_len"),
        ({"seq_len": (5, 4)}, ValueError, "seq_len"),
        ({"seq_len": (2.0, 4)}, TypeError, "seq_len"),
        ({"p_transition": 1.5}, ValueError, "p_transition must be in"),
        ({"p_transition": float("nan")}, ValueError, "p_transition"),
        ({"p_switch": -0.1}, ValueError, "p_switch.*-0.1"),
        ({"popularity_skew": -1}, ValueError, "popularity_skew"),
        ({"popularity_skew": float("inf")}, ValueError, "popularity_skew"),
        ({"popularity_skew": "big"}, TypeError, "popularity_skew"),
    ],
)
def test_make_interactions_validation(kwargs, error, match):
    params = {"n_users": 10, "n_items": 20, "n_interests": 4, **kwargs}
    with pytest.raises(error, match=match):
        make_interactions(**params)


def _hit_rates_last_item(df: pd.DataFrame, k: int = 10) -> tuple[float, float]:
    """Hit rate@k on each user's last item of a transition heuristic and of global counts.

    The heuristic, learned from the training rows only: the most frequent successor of
    the previous item, then the most popular items of that item's category.
    """
    users = df["user_id"].to_numpy()
    items = df["item_id"].str.slice(1).astype(int).to_numpy()
    category = df["category"].str.slice(1).astype(int).to_numpy()
    n_items = items.max() + 1
    is_last = np.r_[users[1:] != users[:-1], True]
    target = items[is_last]
    previous = items[np.flatnonzero(is_last) - 1]
    train = ~is_last
    pair = train[:-1] & train[1:] & (users[:-1] == users[1:])
    transitions = np.zeros((n_items, n_items))
    np.add.at(transitions, (items[:-1][pair], items[1:][pair]), 1)
    counts = np.bincount(items[train], minlength=n_items).astype(float)
    item_category = np.zeros(n_items, dtype=np.int64)
    item_category[items] = category

    n = len(target)
    score = np.where(item_category == item_category[previous][:, None], counts, -1.0)
    score[np.arange(n), transitions[previous].argmax(axis=1)] = np.inf
    top_model = np.argsort(-score, axis=1, kind="stable")[:, :k]
    top_global = np.argsort(-counts, kind="stable")[:k]
    hit_model = (top_model == target[:, None]).any(axis=1).mean()
    hit_global = np.isin(target, top_global).mean()
    return float(hit_model), float(hit_global)


def test_make_interactions_structure_beats_popularity(synthetic):
    hit_model, hit_global = _hit_rates_last_item(synthetic)
    assert hit_model > 0.6
    assert hit_model > 3 * hit_global


def test_make_interactions_without_structure_is_not_predictable():
    # Control: with no transitions, one interest for all and no popularity skew, the
    # heuristic has nothing to exploit beyond chance.
    df = make_interactions(
        n_users=300,
        n_items=200,
        n_interests=1,
        interests_per_user=(1, 1),
        p_transition=0.0,
        popularity_skew=0.0,
        random_state=0,
    )
    hit_model, _ = _hit_rates_last_item(df)
    assert hit_model < 0.15


def test_make_interactions_with_one_interest_and_bool_download_flag(tmp_path):
    df = make_interactions(n_users=5, n_items=10, n_interests=1, random_state=0)
    assert df["category"].nunique() == 1 and df["user_id"].nunique() == 5
    for loader in (load_movielens, load_amazon_beauty):
        with pytest.raises(TypeError, match="download_if_missing must be True or False"):
            loader(data_home=tmp_path, download_if_missing="no")
    assert not any(tmp_path.iterdir())  # nothing downloaded
