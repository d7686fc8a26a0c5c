"""save / load: safety and clear errors."""

import pytest
import torch

from skmatch.model_selection import leave_last_out_split
from skmatch.models import DSSM, Popularity
from skmatch.models._persist import FORMAT_VERSION


@pytest.fixture(scope="module")
def model(synthetic):
    return Popularity().fit(leave_last_out_split(synthetic)[0])


def test_corrupted_file_gives_clear_error(model, tmp_path):
    path = tmp_path / "m.skm"
    model.save(path)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="not a readable skmatch model file"):
        Popularity.load(path)
    (tmp_path / "text.skm").write_text("hello")
    with pytest.raises(ValueError, match="not a readable skmatch model file"):
        Popularity.load(tmp_path / "text.skm")


def test_newer_format_and_wrong_class_are_refused(model, tmp_path):
    path = tmp_path / "m.skm"
    model.save(path)
    with pytest.raises(TypeError, match="holds a Popularity, not a DSSM"):
        DSSM.load(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="Upgrade skmatch"):
        Popularity.load(path)


def test_save_is_atomic_and_leaves_no_temporary(model, tmp_path):
    model.save(tmp_path / "m.skm")
    assert [p.name for p in tmp_path.iterdir()] == ["m.skm"]
