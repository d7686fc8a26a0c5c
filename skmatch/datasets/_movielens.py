"""MovieLens 100K and 1M loaders (GroupLens), read from the original file formats."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from skmatch.datasets._base import _fetch, _RemoteFile
from skmatch.exceptions import DataError, format_values

__all__ = ["load_movielens"]

_COLUMNS = [
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
_INT_COLUMNS = ["user_id", "item_id", "rating", "timestamp", "age"]

# Archive hashes: the GroupLens archives are frozen; these sha256 values are the ones pinned
# by tensorflow/datasets (url_checksums/movielens.txt) and agree with GroupLens' published md5.
_ML100K_ZIP = _RemoteFile(
    url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    filename="ml-100k.zip",
    sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
)
_ML1M_ZIP = _RemoteFile(
    url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
    filename="ml-1m.zip",
    sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
)
# Per-file hashes of the files read, verified before every load.
_ML100K_FILES = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
}
# No trusted per-file hashes are known for ML-1M: only the downloaded archive is verified
# (sha256 of ml-1m.zip, then zipfile.testzip); files already present on disk are read as is.
_ML1M_FILES: dict[str, str | None] = {"ratings.dat": None, "users.dat": None, "movies.dat": None}

# ML-1M users.dat stores occupations as codes; names from the ML-1M README.
_ML1M_OCCUPATIONS = np.array(
    [
        "other",
        "academic/educator",
        "artist",
        "clerical/admin",
        "college/grad student",
        "customer service",
        "doctor/health care",
        "executive/managerial",
        "farmer",
        "homemaker",
        "K-12 student",
        "lawyer",
        "programmer",
        "retired",
        "sales/marketing",
        "scientist",
        "self-employed",
        "technician/engineer",
        "tradesman/craftsman",
        "unemployed",
        "writer",
    ]
)
_VARIANTS = ("100k", "1m")


def load_movielens(
    variant: str = "100k",
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
) -> pd.DataFrame:
    """Load the MovieLens 100K or 1M ratings joined with user and movie features.

    The files are read from ``<data_home>/ml-100k/`` (``u.data``, ``u.user``, ``u.item``,
    ``u.genre``) or ``<data_home>/ml-1m/`` (``ratings.dat``, ``users.dat``, ``movies.dat``),
    the folders of the GroupLens archives, which are downloaded and extracted when missing.
    ML-100K files are checked against known sha256 hashes before reading; for ML-1M only the
    downloaded archive's sha256 and integrity are checked.

    Parameters
    ----------
    variant : {"100k", "1m"}, default="100k"
        Which MovieLens release to load.
    data_home : str or path-like, default=None
        Data folder; see :func:`skmatch.datasets.get_data_home`.
    download_if_missing : bool, default=True
        Download the archive from files.grouplens.org when files are missing. When False,
        missing files raise :class:`~skmatch.exceptions.DataError`.

    Returns
    -------
    ratings : pandas.DataFrame
        One row per rating, in the order of the ratings file, with columns ``user_id``,
        ``item_id``, ``rating``, ``timestamp``, ``gender``, ``age``, ``occupation``, ``zip``,
        ``title`` and ``genres`` (genre names joined with ``"|"``). Ids, rating, timestamp
        (Unix seconds) and age are int64 (ML-1M ages are the README's bucket codes: 1, 18,
        25, ...); the other columns are strings (ML-1M occupation codes are mapped to names).

    Raises
    ------
    DataError
        When files are missing and cannot be downloaded, or fail their checksum.

    Notes
    -----
    The data is distributed by GroupLens under its own terms of use (no redistribution,
    citation of F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
    Context", ACM TiiS 2015); see the README in the archive.
    """
    if not isinstance(variant, str):
        raise TypeError(
            f"variant must be a str, one of {format_values(_VARIANTS)}; "
            f"got {type(variant).__name__} {variant!r}."
        )
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {format_values(_VARIANTS)}; got {variant!r}.")
    if variant == "100k":
        paths = _fetch(
            "MovieLens 100K",
            "ml-100k",
            _ML100K_FILES,
            _ML100K_ZIP,
            data_home=data_home,
            download_if_missing=download_if_missing,
            archive_folder="ml-100k",
        )
        ratings, users, movies = _read_100k(paths)
    else:
        paths = _fetch(
            "MovieLens 1M",
            "ml-1m",
            _ML1M_FILES,
            _ML1M_ZIP,
            data_home=data_home,
            download_if_missing=download_if_missing,
            archive_folder="ml-1m",
        )
        ratings, users, movies = _read_1m(paths)
    return _join(ratings, users, movies, paths)


def _read_table(path: Path, names: list[str], sep: str, **kwargs) -> pd.DataFrame:
    """Read a header-less, unquoted, latin-1 table; a multi-char ``sep`` is replaced first."""
    if len(sep) > 1:  # "::" in ML-1M: swap for a tab so that the fast C parser can read it
        source: Path | io.BytesIO = io.BytesIO(path.read_bytes().replace(sep.encode(), b"\t"))
        sep = "\t"
    else:
        source = path
    try:
        return pd.read_csv(
            source,
            sep=sep,
            header=None,
            names=names,
            encoding="latin-1",
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            **kwargs,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            f"Could not parse {path} ({exc}). The file does not have the expected MovieLens "
            f"format ({len(names)} fields separated by {sep!r}); delete it and load again to "
            "re-download it."
        ) from exc


def _read_100k(paths: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    int_ = np.int64
    ratings = _read_table(
        paths["u.data"],
        ["user_id", "item_id", "rating", "timestamp"],
        "\t",
        dtype=int_,
    )
    users = _read_table(
        paths["u.user"],
        ["user_id", "age", "gender", "occupation", "zip"],
        "|",
        dtype={"user_id": int_, "age": int_, "gender": str, "occupation": str, "zip": str},
    )
    genres = _read_table(paths["u.genre"], ["genre", "index"], "|", dtype={"genre": str})
    genres = genres[genres["genre"] != ""].sort_values("index")
    genre_names = genres["genre"].to_numpy(dtype=str)
    flag_names = [f"g{i}" for i in range(len(genre_names))]
    movies = _read_table(
        paths["u.item"],
        ["item_id", "title", "release_date", "video_release_date", "url", *flag_names],
        "|",
        dtype={"item_id": int_, "title": str, **dict.fromkeys(flag_names, int_)},
    )
    flags = movies[flag_names].to_numpy() == 1  # [n_movies, n_genres]
    joined = np.full(len(movies), "", dtype=object)
    for j, name in enumerate(genre_names):  # loop over the 19 genres, vectorised over movies
        joined = joined + np.where(flags[:, j], name + "|", "")
    movies["genres"] = pd.Series(joined, index=movies.index).str.removesuffix("|")
    return ratings, users, movies[["item_id", "title", "genres"]]


def _read_1m(paths: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    int_ = np.int64
    ratings = _read_table(
        paths["ratings.dat"], ["user_id", "item_id", "rating", "timestamp"], "::", dtype=int_
    )
    users = _read_table(
        paths["users.dat"],
        ["user_id", "gender", "age", "occupation", "zip"],
        "::",
        dtype={"user_id": int_, "gender": str, "age": int_, "occupation": int_, "zip": str},
    )
    codes = users["occupation"].to_numpy()
    bad = (codes < 0) | (codes >= len(_ML1M_OCCUPATIONS))
    if bad.any():
        raise DataError(
            f"{paths['users.dat']} has {int(bad.sum())} unknown occupation codes "
            f"{format_values(np.unique(codes[bad]))} (expected 0 to 20); delete it and load "
            "again to re-download it."
        )
    users["occupation"] = _ML1M_OCCUPATIONS[codes]
    movies = _read_table(
        paths["movies.dat"],
        ["item_id", "title", "genres"],
        "::",
        dtype={"item_id": int_, "title": str, "genres": str},
    )
    return ratings, users, movies


def _lookup(keys: pd.Series, table_ids: pd.Series, what: str, path: Path) -> np.ndarray:
    """Positions of ``keys`` in ``table_ids``; DataError naming unknown keys."""
    index = pd.Index(table_ids)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        raise DataError(
            f"{path} lists {len(dup)} {what} ids more than once {format_values(dup)}; "
            "delete it and load again to re-download it."
        )
    pos = index.get_indexer(keys)
    if (pos < 0).any():
        unknown = pd.unique(keys[pos < 0])
        raise DataError(
            f"{len(unknown)} {what} ids of the ratings are absent from {path} "
            f"{format_values(unknown)}; the files are inconsistent: delete them and load "
            "again to re-download them."
        )
    return pos


def _join(
    ratings: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame, paths: dict[str, Path]
) -> pd.DataFrame:
    """Attach user and movie columns to each rating, keeping the ratings' row order."""
    user_file = paths.get("u.user", paths.get("users.dat"))
    movie_file = paths.get("u.item", paths.get("movies.dat"))
    u = _lookup(ratings["user_id"], users["user_id"], "user", user_file)
    m = _lookup(ratings["item_id"], movies["item_id"], "item", movie_file)
    out = pd.DataFrame(
        {
            "user_id": ratings["user_id"].to_numpy(),
            "item_id": ratings["item_id"].to_numpy(),
            "rating": ratings["rating"].to_numpy(),
            "timestamp": ratings["timestamp"].to_numpy(),
            "gender": users["gender"].to_numpy()[u],
            "age": users["age"].to_numpy()[u],
            "occupation": users["occupation"].to_numpy()[u],
            "zip": users["zip"].to_numpy()[u],
            "title": movies["title"].to_numpy()[m],
            "genres": movies["genres"].to_numpy()[m],
        },
        columns=_COLUMNS,
    )
    str_columns = [c for c in _COLUMNS if c not in _INT_COLUMNS]
    dtypes = {**dict.fromkeys(_INT_COLUMNS, np.int64), **dict.fromkeys(str_columns, "str")}
    return out.astype(dtypes)
