"""Shared fixtures: the real datasets (skipped when absent) and a small synthetic one."""

from __future__ import annotations

import pandas as pd
import pytest

from skmatch.datasets import get_data_home, load_amazon_beauty, load_movielens, make_interactions

_ML100K_FILES = ("u.data", "u.user", "u.item", "u.genre")
_REAL_DATA = {"ml100k", "beauty"}


def pytest_collection_modifyitems(config, items):
    """Tests that read the real datasets are ``realdata`` (``make test-fast`` leaves them
    out, with ``examples``, ``torchrun`` and ``slow``)."""
    for item in items:
        if _REAL_DATA & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realdata)


def _skip_unless_present(folder: str, names: tuple[str, ...]) -> None:
    """Skip the test when any expected file is absent; present but bad files still fail."""
    home = get_data_home()
    missing = [name for name in names if not (home / folder / name).is_file()]
    if missing:
        pytest.skip(
            f"{', '.join(f'{folder}/{name}' for name in missing)} not found in "
            f"SKMATCH_DATA_HOME={home}; set "
            f"SKMATCH_DATA_HOME to a folder holding {folder}/ with {', '.join(names)}."
        )


@pytest.fixture(scope="session")
def ml100k() -> pd.DataFrame:
    """MovieLens 100K ratings from the data home (never downloaded); shared: copy to modify."""
    _skip_unless_present("ml-100k", _ML100K_FILES)
    return load_movielens("100k", download_if_missing=False)


@pytest.fixture(scope="session")
def beauty() -> pd.DataFrame:
    """Amazon Beauty 5-core from the data home (never downloaded); shared: copy to modify."""
    _skip_unless_present("amazon-beauty-5core", ("Beauty.txt",))
    return load_amazon_beauty(download_if_missing=False)


@pytest.fixture(scope="session")
def synthetic() -> pd.DataFrame:
    """Synthetic interactions with planted structure (300 users, 200 items); copy to modify."""
    return make_interactions(n_users=300, n_items=200, n_interests=4, random_state=0)
