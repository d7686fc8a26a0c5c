"""Amazon Beauty 5-core loader (the preprocessed sequences of the S3-Rec paper)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from skmatch.datasets._base import _fetch, _RemoteFile
from skmatch.exceptions import DataError

__all__ = ["load_amazon_beauty"]

_BEAUTY = _RemoteFile(
    url="https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/Beauty.txt",
    filename="Beauty.txt",
    sha256="226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
)
_ATTRIBUTES = _RemoteFile(
    url="https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/"
    "Beauty_item2attributes.json",
    filename="Beauty_item2attributes.json",
    sha256="129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
)
_FOLDER = "amazon-beauty-5core"
_WHITESPACE = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)  # as bytes.split()


def load_amazon_beauty(
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    attributes: bool = False,
) -> pd.DataFrame:
    """Load the Amazon Beauty 5-core interaction sequences.

    Reads ``<data_home>/amazon-beauty-5core/Beauty.txt``, the preprocessed file of the
    S3-Rec paper (Zhou et al., CIKM 2020, repository RUCAIBox/CIKM2020-S3Rec): one line per
    user, ``user_id item_1 item_2 ...`` with items in time order. The file is checked against
    its known sha256 before reading, and downloaded when missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder; see :func:`skmatch.datasets.get_data_home`.
    download_if_missing : bool, default=True
        Download the file from GitHub when it is missing. When False, a missing file raises
        :class:`~skmatch.exceptions.DataError`.
    attributes : bool, default=False
        Also read ``Beauty_item2attributes.json`` (the same repository: each item's
        category and brand ids) into a column ``attributes``: the item's attribute ids
        joined with ``"|"`` (a multi-valued feature for ``FeatureSpec``), empty for
        items without any. Checked against its sha256 like the sequences.

    Returns
    -------
    interactions : pandas.DataFrame
        198,502 rows (22,363 users, 12,101 items) with int64 columns ``user_id``,
        ``item_id`` and ``timestamp``, the 0-based position of the item in the user's
        sequence (the source has no times), in file order.

    Raises
    ------
    DataError
        When the file is missing and cannot be downloaded, fails its checksum, or holds a
        token that is not an integer.
    """
    path = _one_file("Amazon Beauty 5-core", _BEAUTY, data_home, download_if_missing)
    data = path.read_bytes()
    buf = np.frombuffer(data, dtype=np.uint8)
    is_space = np.isin(buf, _WHITESPACE)
    # A token starts at a non-space byte that follows a space (or opens the file).
    starts = np.flatnonzero(~is_space & np.concatenate(([True], is_space[:-1])))
    line = np.cumsum(buf == ord("\n"))[starts]  # line number of each token
    try:
        values = np.array(data.split()).astype(np.int64)
    except ValueError as exc:
        raise DataError(
            f"{path} holds a token that is not an integer ({exc}); expected lines of "
            "'user_id item_id item_id ...'. Delete it and load again to re-download it."
        ) from exc
    first = np.concatenate(([True], line[1:] != line[:-1]))  # the user id opening a line
    line_start = np.flatnonzero(first)
    owner = np.cumsum(first) - 1  # which line (user) each token belongs to
    is_item = ~first
    position = np.arange(len(values)) - line_start[owner] - 1
    frame = pd.DataFrame(
        {
            "user_id": values[first][owner[is_item]],
            "item_id": values[is_item],
            "timestamp": position[is_item],
        }
    ).astype(np.int64)
    if attributes:
        frame["attributes"] = _item_attributes(data_home, download_if_missing)(frame["item_id"])
    return frame


def _item_attributes(data_home, download_if_missing):
    """A function mapping item ids to their ``"|"``-joined attribute ids ("" for none)."""
    import json

    path = _one_file("Amazon Beauty item attributes", _ATTRIBUTES, data_home,
                     download_if_missing)  # fmt: skip
    table = json.loads(path.read_text())
    joined = pd.Series({int(k): "|".join(map(str, v)) for k, v in table.items()}, dtype=object)
    return lambda items: items.map(joined).fillna("").astype(object)


def _one_file(what: str, remote, data_home, download_if_missing):
    """The path of ``remote``'s file in the data home (downloaded and checked if need be)."""
    return _fetch(
        what,
        _FOLDER,
        {remote.filename: remote.sha256},
        remote,
        data_home=data_home,
        download_if_missing=download_if_missing,
    )[remote.filename]
