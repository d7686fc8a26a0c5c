"""The registry is the one list of estimators; the module contract holds for every model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import skmatch
from skmatch import models
from skmatch.models import all_estimators
from skmatch.models.registry import ESTIMATORS, FAMILIES, family_of
from skmatch.nn.protocol import Batch, RetrievalModule

NAMES = [entry.name for entry in ESTIMATORS]


def test_registry_drives_the_package_names():
    assert [cls.__name__ for cls in all_estimators()] == NAMES
    assert set(NAMES) <= set(skmatch.__all__) and set(NAMES) <= set(models.__all__)
    for name in NAMES:
        assert getattr(skmatch, name) is getattr(models, name)
        assert family_of(getattr(models, name)) in FAMILIES
    with pytest.raises(AttributeError, match="NoSuchModel"):
        models.NoSuchModel  # noqa: B018
    with pytest.raises(ValueError, match="family must be one of"):
        all_estimators("graph")


def test_docs_table_lists_every_registered_estimator():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "hooks"))
    try:
        from registry import estimators_table, on_page_markdown
    finally:
        sys.path.pop(0)
    table = estimators_table()
    for name in NAMES:
        assert f"| `{name}` |" in table
    assert "<!--" not in on_page_markdown("a\n<!-- estimators -->\nb", None, None, None)


def test_metrics_datasets_and_splitters_do_not_import_torch():
    code = (
        "import sys, skmatch, skmatch.metrics, skmatch.datasets, skmatch.model_selection, "
        "skmatch.index; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cls", all_estimators("neural"), ids=lambda c: c.__name__)
def test_every_module_is_a_retrieval_module(cls, synthetic):
    est = cls(n_epochs=1, embed_dim=8, random_state=0).fit(synthetic)
    module = est.module_
    assert isinstance(module, RetrievalModule)
    hist = est.history_.last([2, 3], est.feature_spec_.max_seq_len)
    import torch

    batch = Batch(hist=torch.from_numpy(hist))
    with torch.no_grad():
        users = module.user_forward(batch)
        items = module.all_items(2)
    assert users.shape[0] == 2 and users.shape[-1] == est.embed_dim
    assert items.shape == (est.n_items_, est.embed_dim)
