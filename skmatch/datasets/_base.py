"""Data home, checksum-verified files and downloads shared by the dataset loaders."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib import request

import numpy as np

from skmatch.exceptions import DataError, format_values

__all__ = ["clear_data_home", "get_data_home"]

_ENV_VAR = "SKMATCH_DATA_HOME"
_CHUNK = 1 << 20

# (resolved path, inode, size, mtime_ns, ctime_ns) -> sha256 hex digest of the file's
# content. A rewritten file changes its ctime even when its mtime is restored, so a stale
# digest is never reused.
_DIGEST_CACHE: dict[tuple[str, int, int, int, int], str] = {}


@dataclass(frozen=True)
class _RemoteFile:
    """A file published at ``url``, stored as ``filename`` with content hash ``sha256``.

    ``sha256`` is ``None`` when no trusted hash is known: the file is then not verified.
    """

    url: str
    filename: str
    sha256: str | None


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder where skmatch stores datasets, creating it if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. When ``None``, the environment variable ``SKMATCH_DATA_HOME``
        is used if set and non-empty, else ``~/skmatch_data``. ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        The data folder. An existing folder is returned as is, even when read-only.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skmatch.datasets import get_data_home
    >>> home = get_data_home(Path(tempfile.mkdtemp()) / "skmatch_data")
    >>> home.name, home.is_dir()
    ('skmatch_data', True)
    """
    path = _resolve_home(data_home)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
    return path


def _resolve_home(data_home: str | os.PathLike | None) -> Path:
    if data_home is None:
        data_home = os.environ.get(_ENV_VAR) or os.path.join("~", "skmatch_data")
    if not os.fspath(data_home).strip():  # "" would be the working directory
        raise ValueError(
            "data_home is an empty path; pass a folder, or None for SKMATCH_DATA_HOME "
            "(else ~/skmatch_data)."
        )
    return Path(data_home).expanduser()


def clear_data_home(data_home: str | os.PathLike | None = None) -> None:
    """Delete the data home folder and everything in it.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to delete; resolved as in :func:`get_data_home`.

    Raises
    ------
    ValueError
        If the folder is the working directory, the home directory, a filesystem root
        or one of their ancestors: those are never a data home to delete.
    """
    path = get_data_home(data_home)
    real = path.resolve()
    guarded = {Path.cwd().resolve(), Path.home().resolve(), Path(real.anchor)}
    if any(real == g or real in g.parents for g in guarded):
        raise ValueError(
            f"Refusing to delete {real}: it is the working directory, the home directory, a "
            "filesystem root or an ancestor of one. Pass the data folder itself."
        )
    shutil.rmtree(path)  # a symlinked home is refused by rmtree, its target kept


def _sha256(path: Path) -> str:
    """Return the sha256 hex digest of ``path``, cached by path, inode, size, mtime and
    ctime (an in-place edit that restores the mtime still changes the ctime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    digest = _DIGEST_CACHE.get(key)
    if digest is None:
        hasher = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        _DIGEST_CACHE[key] = digest
    return digest


def _verify(path: Path, expected: str | None, url: str) -> None:
    """Raise :class:`DataError` unless ``path`` has sha256 ``expected`` (skipped if ``None``)."""
    if expected is None:
        return
    actual = _sha256(path)
    if actual != expected:
        raise DataError(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. The file "
            f"is corrupted or is not the published version. Delete {path} and load the dataset "
            f"again with download_if_missing=True to re-download it (or fetch it from {url})."
        )


def _download(remote: _RemoteFile, target: Path) -> None:
    """Download ``remote`` to ``target`` atomically: temp file, verify, ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, request.urlopen(remote.url, timeout=60) as response:
            shutil.copyfileobj(response, out, _CHUNK)
        _verify(tmp, remote.sha256, remote.url)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _extract(archive: Path, members: Mapping[str, Path]) -> None:
    """Extract zip ``members`` (archive name -> target path), each atomically."""
    with zipfile.ZipFile(archive) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise DataError(
                f"The archive {archive} is corrupted (first bad member: {bad!r}); delete it and "
                "load the dataset again to re-download it."
            )
        for name, target in members.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".part", dir=target.parent
            )
            try:
                with os.fdopen(fd, "wb") as out, zf.open(name) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                os.replace(tmp_name, target)
            finally:
                Path(tmp_name).unlink(missing_ok=True)


def _fetch(
    dataset: str,
    folder: str,
    files: Mapping[str, str | None],
    remote: _RemoteFile,
    *,
    data_home: str | os.PathLike | None,
    download_if_missing: bool,
    archive_folder: str | None = None,
) -> dict[str, Path]:
    """Return verified paths of ``files`` (name -> sha256) in ``<data_home>/<folder>``.

    Missing files are downloaded from ``remote``: either the file itself, or a zip archive
    whose members ``<archive_folder>/<name>`` are extracted into ``<data_home>/<folder>``.
    Every file with a known hash is verified before it is returned.
    """
    if not isinstance(download_if_missing, (bool, np.bool_)):  # "no" must not download
        raise TypeError(
            f"download_if_missing must be True or False, got {download_if_missing!r}."
        )
    try:
        home = get_data_home(data_home)
    except OSError as exc:
        raise DataError(
            f"Cannot create the data home {_resolve_home(data_home)} ({exc}). Pass data_home= "
            f"or set {_ENV_VAR} to a folder holding {folder}/ or one you can write to."
        ) from exc
    directory = home / folder
    paths = {name: directory / name for name in files}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        where = (
            f"{len(missing)} of {len(files)} expected files are missing in {directory}: "
            f"{format_values(missing, n_max=len(missing))}"
        )
        if remote.filename.endswith(".zip"):
            how = f"download {remote.url} and extract it into {home} (it holds {folder}/)"
        else:
            how = f"download {remote.url} to {directory / remote.filename}"
        if not download_if_missing:
            raise DataError(
                f"{dataset} not found: {where}. Either {how}, or call the loader with "
                "download_if_missing=True."
            )
        try:
            if archive_folder is None:
                _download(remote, directory / remote.filename)
            else:
                archive = home / remote.filename
                try:
                    _download(remote, archive)
                    _extract(archive, {f"{archive_folder}/{n}": p for n, p in paths.items()})
                finally:
                    archive.unlink(missing_ok=True)
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise DataError(
                f"Could not download {dataset} from {remote.url} ({type(exc).__name__}: {exc}). "
                f"{where}. To install it by hand, {how}; then load it again."
            ) from exc
    for name, path in paths.items():
        _verify(path, files[name], remote.url)
    return paths
