"""ONNX export: every neural estimator's towers, run by onnxruntime, match transform_*."""

from __future__ import annotations

import numpy as np
import pytest

from skmatch import FeatureSpec
from skmatch.datasets import make_interactions
from skmatch.export import export_onnx, item_codes, user_input_names, user_tower_inputs
from skmatch.models import DSSM, MIND, Popularity, SASRec, all_estimators

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

NEURAL = all_estimators("neural")
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(scope="module")
def data():
    df = make_interactions(n_users=120, n_items=80, random_state=0)
    df["age"] = df["user_id"].str[1:].astype(int) % 5  # a user feature
    return df


def _fit(cls, df, **spec):
    spec = FeatureSpec(max_seq_len=12, **spec)
    return cls(feature_spec=spec, embed_dim=8, n_epochs=1, random_state=0, device="cpu").fit(df)


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL, ids=lambda c: c.__name__)
def test_towers_match_transform(cls, data, tmp_path):
    est = _fit(cls, data)
    users = est.feature_spec_.inverse_transform_users(np.arange(2, 60))
    user_file = export_onnx(est, tmp_path / "user.onnx", tower="user")
    session = ort.InferenceSession(str(user_file))
    assert [i.name for i in session.get_inputs()] == user_input_names(est) == ["history"]
    out = session.run(None, user_tower_inputs(est, users))[0]
    expected = est.transform_users(users)
    assert out.shape == expected.shape  # (n, d), multi-interest (n, K, d)
    np.testing.assert_allclose(out, expected, **TOL)
    # a batch of one, and new users from a history DataFrame
    one = session.run(None, user_tower_inputs(est, users[:1]))[0]
    np.testing.assert_allclose(one, expected[:1], **TOL)
    history = data[data["user_id"].isin(users[:4])].assign(user_id=lambda d: "new-" + d.user_id)
    new = session.run(None, user_tower_inputs(est, history))[0]
    np.testing.assert_allclose(new, est.transform_users(history), **TOL)

    item_file = export_onnx(est, tmp_path / "item.onnx", tower="item")
    items = ort.InferenceSession(str(item_file)).run(None, {"item_codes": item_codes(est)})[0]
    np.testing.assert_allclose(items, est.transform_items(), **TOL)


@pytest.mark.parametrize("block", ["sasrec", "ligr", "bsarec"])
def test_sasrec_blocks_export(block, data, tmp_path):
    """Every SASRec block (the paper's; gates; the causal frequency filter) exports."""
    spec = FeatureSpec(max_seq_len=12)
    est = SASRec(feature_spec=spec, block=block, embed_dim=8, n_epochs=1, random_state=0,
                 device="cpu").fit(data)  # fmt: skip
    users = est.feature_spec_.inverse_transform_users(np.arange(2, 40))
    session = ort.InferenceSession(str(export_onnx(est, tmp_path / "user.onnx", tower="user")))
    out = session.run(None, user_tower_inputs(est, users))[0]
    np.testing.assert_allclose(out, est.transform_users(users), **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [DSSM, MIND], ids=lambda c: c.__name__)
def test_user_features_are_named_inputs(cls, data, tmp_path):
    est = _fit(cls, data, user_features=["age"], item_features=["category"])
    names = user_input_names(est)
    assert names == ["history", "user_age"]
    session = ort.InferenceSession(str(export_onnx(est, tmp_path / "u.onnx")))
    assert [i.name for i in session.get_inputs()] == names
    users = est.feature_spec_.inverse_transform_users(np.arange(2, 30))
    out = session.run(None, user_tower_inputs(est, users))[0]
    np.testing.assert_allclose(out, est.transform_users(users), **TOL)
    item_file = export_onnx(est, tmp_path / "i.onnx", tower="item")
    items = ort.InferenceSession(str(item_file)).run(None, {"item_codes": item_codes(est)})[0]
    np.testing.assert_allclose(items, est.transform_items(), **TOL)


def test_export_errors(data, tmp_path):
    with pytest.raises(TypeError, match="Popularity"):
        export_onnx(Popularity().fit(data), tmp_path / "p.onnx")
    from skmatch.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_onnx(DSSM(), tmp_path / "d.onnx")
    est = _fit(DSSM, data)
    with pytest.raises(ValueError, match="tower"):
        export_onnx(est, tmp_path / "d.onnx", tower="users")
    for bad in (7, "18", 18.0, True):
        with pytest.raises(ValueError, match=r"opset_version must be an integer >= 18"):
            export_onnx(est, tmp_path / "d.onnx", opset_version=bad)
    assert not (tmp_path / "d.onnx").exists()
