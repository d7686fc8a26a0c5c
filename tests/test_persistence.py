"""save / load: safety and clear errors."""

from pathlib import Path

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



def test_failed_save_leaves_no_temporary_and_keeps_the_old_file(model, tmp_path, monkeypatch):
    from skmatch.models import _persist

    model.save(tmp_path / "m.skm")
    before = (tmp_path / "m.skm").read_bytes()

    def broken_save(payload, path):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(_persist.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.skm")
    assert [p.name for p in tmp_path.iterdir()] == ["m.skm"]
    assert (tmp_path / "m.skm").read_bytes() == before


def test_save_load_keeps_the_feature_spec_parameter(tmp_path):
    """``get_params`` after ``load`` equals the saved model's, ``feature_spec`` included,
    so ``clone(loaded).fit`` refits with the same features and window."""
    from sklearn.base import clone

    from skmatch import FeatureSpec
    from skmatch.datasets import make_interactions

    df = make_interactions(n_users=40, n_items=30, random_state=0)
    df["genre"] = df["item_id"].str.len().astype(str)
    spec = FeatureSpec(item_features=["genre"], max_seq_len=7, feature_types={"genre": "sparse"})
    model = DSSM(feature_spec=spec, n_epochs=1, embed_dim=4, random_state=0).fit(df)
    model.save(tmp_path / "m.skm")
    loaded = DSSM.load(tmp_path / "m.skm")
    got = loaded.get_params()["feature_spec"]
    assert isinstance(got, FeatureSpec) and got.get_params() == spec.get_params()
    refit = clone(loaded).fit(df)
    assert refit.feature_spec_.max_seq_len == 7
    assert list(refit.feature_spec_.item_features) == ["genre"]
    # a model without the parameter still round-trips to None
    plain = Popularity().fit(df)
    plain.save(tmp_path / "p.skm")
    assert Popularity.load(tmp_path / "p.skm").get_params()["feature_spec"] is None


def test_save_load_keeps_tuples_and_lists_apart_and_reads_untagged_files(tmp_path):
    import json

    from skmatch.datasets import make_interactions

    df = make_interactions(n_users=30, n_items=20, random_state=1)
    for dims in ((8,), [8]):
        model = DSSM(hidden_dims=dims, n_epochs=1, embed_dim=4, random_state=0).fit(df)
        model.save(tmp_path / "m.skm")
        assert DSSM.load(tmp_path / "m.skm").get_params()["hidden_dims"] == dims
        assert type(DSSM.load(tmp_path / "m.skm").hidden_dims) is type(dims)
    # a file written before tuples were tagged: lists become tuples where the default is one
    payload = torch.load(tmp_path / "m.skm", weights_only=True)
    del payload["tagged_params"]
    params = json.loads(payload["params"])
    params["hidden_dims"] = [8]
    params.pop("feature_spec", None)
    payload["params"] = json.dumps(params)
    torch.save(payload, tmp_path / "old.skm")
    assert DSSM.load(tmp_path / "old.skm").hidden_dims == (8,)


def test_numpy_scalar_params_save_as_numbers(synthetic, tmp_path):
    """A grid over ``np.arange`` hands numpy scalars to the best estimator."""
    import numpy as np
    from sklearn.model_selection import GridSearchCV

    from skmatch import FeatureSpec
    from skmatch.model_selection import LeaveLastOut

    search = GridSearchCV(Popularity(), {"k": np.arange(3, 8, 2)}, cv=LeaveLastOut())
    best = search.fit(synthetic).best_estimator_
    assert isinstance(best.k, np.integer)
    best.save(tmp_path / "best.skm")
    assert Popularity.load(tmp_path / "best.skm").get_params() == best.get_params()
    spec = FeatureSpec(max_seq_len=np.int64(7))
    Popularity(feature_spec=spec).fit(synthetic).save(tmp_path / "spec.skm")
    loaded = Popularity.load(tmp_path / "spec.skm")
    assert loaded.feature_spec.max_seq_len == 7 and loaded.feature_spec_.max_seq_len == 7
