"""The parameter tables of docs/models/<family>.md state every model's real defaults.

Each model's section has rows ``| **name** | `default` | ...`` (its own parameters) and
``| [name](index.md#common-parameters) | `default` | ...`` (shared ones); the default in
backticks must be what ``__init__`` gives. Defaults are the product: a page that still
shows an old one (``n_epochs=10``, ``early_stopping=False``) misleads every reader.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import pytest

from skmatch.models.registry import ESTIMATORS, load

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models"
ROW = re.compile(r"^\| (?:\*\*(\w+)\*\*|\[(\w+)\]\([^)]*\)) \| `([^`]*)`", re.M)
NEURAL = [e for e in ESTIMATORS if e.family != "baseline"]


def _section(family: str, name: str) -> str:
    text = (DOCS / f"{family}.md").read_text()
    for part in re.split(r"\n## ", text):
        if part.split("\n", 1)[0].strip() == name:
            return part
    raise AssertionError(f"docs/models/{family}.md has no '## {name}' section")


def _as_docs(value) -> set[str]:
    if isinstance(value, str):
        return {f'"{value}"'}
    if isinstance(value, float) and math.isinf(value):
        return {'float("inf")'}
    return {repr(value), str(value)}


@pytest.mark.parametrize("entry", NEURAL, ids=lambda e: e.name)
def test_every_documented_default_is_the_code_default(entry):
    params = inspect.signature(load(entry.name).__init__).parameters
    rows = ROW.findall(_section(entry.family, entry.name))
    assert len(rows) >= 10, f"{entry.name}: its parameter table was not found"
    wrong = []
    for own, shared, documented in rows:
        name = own or shared
        assert name in params, f"{entry.name}: the docs list {name!r}, not a parameter"
        if documented not in _as_docs(params[name].default):
            wrong.append(f"{name}: docs {documented}, code {params[name].default!r}")
    assert not wrong, f"{entry.name} in docs/models/{entry.family}.md: " + "; ".join(wrong)
