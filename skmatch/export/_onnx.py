"""ONNX export of a fitted estimator's user or item tower."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skmatch.features import N_RESERVED
from skmatch.models._params import check_choice, check_int
from skmatch.models.neural import TorchMatcher
from skmatch.nn.protocol import Batch

OPSET = 18
ITEM_INPUT = "item_codes"
HISTORY_INPUT = "history"
OUTPUTS = {"user": "user_vectors", "item": "item_vectors"}


class _UserTower(nn.Module):
    """``user_forward`` with positional inputs: the history, then each user feature."""

    def __init__(self, module: nn.Module, features: list[str]):
        super().__init__()
        self.module = module
        self.features = features

    def forward(self, history: torch.Tensor, *features: torch.Tensor) -> torch.Tensor:
        feats = dict(zip(self.features, features, strict=True))
        batch = Batch(hist=history, user_features=feats)  # [B, L] codes, left-padded with 0
        return self.module.user_forward(batch).float()  # [B, D] or [B, K, D]


class _ItemTower(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, item_codes: torch.Tensor) -> torch.Tensor:  # [N] -> [N, D]
        return self.module.item_forward(item_codes).float()


def _check_exportable(estimator) -> None:
    if not isinstance(estimator, TorchMatcher):
        raise TypeError(
            f"export_onnx needs one of skmatch's neural estimators; got "
            f"{type(estimator).__name__}, which has no torch towers (Popularity ranks by "
            "counts: serve it with recommend)."
        )
    estimator._check_fitted()


def user_input_names(estimator) -> list[str]:
    """Names of the user tower's ONNX inputs: ``history``, then ``user_<feature>`` each.

    Parameters
    ----------
    estimator : fitted TorchMatcher

    Returns
    -------
    list of str
    """
    _check_exportable(estimator)
    return [HISTORY_INPUT, *(f"user_{f}" for f in estimator.feature_spec_.user_table_)]


def user_tower_inputs(estimator, users) -> dict[str, np.ndarray]:
    """The user tower's ONNX inputs for ``users``, as ``transform_users`` would build them.

    Parameters
    ----------
    estimator : fitted TorchMatcher
    users : array-like of user ids, or DataFrame of interactions
        Known user ids (embedded from their fit-time history) or a history DataFrame
        (new users; unknown items become out-of-vocabulary), as in ``transform_users``.

    Returns
    -------
    dict of str -> ndarray
        ``history``: ``(n, max_seq_len)`` int64 item codes, most recent last, left-padded
        with 0; ``user_<feature>``: each user feature's codes (int64) or values (float32),
        one row per user.
    """
    _check_exportable(estimator)
    query = estimator._query(users)
    batch = estimator._query_batch(query, np.arange(len(query)), torch.device("cpu"))
    features = [batch.user_features[f].numpy() for f in estimator.feature_spec_.user_table_]
    return dict(zip(user_input_names(estimator), [batch.hist.numpy(), *features], strict=True))


def item_codes(estimator) -> np.ndarray:
    """The item tower's input for every known item, in the order of ``transform_items()``.

    Parameters
    ----------
    estimator : fitted TorchMatcher

    Returns
    -------
    ndarray of shape (n_items,), int64
        Codes ``2 .. n_items + 1`` (0 is padding, 1 out-of-vocabulary); map raw ids with
        ``estimator.feature_spec_.encode_items``.
    """
    _check_exportable(estimator)
    return np.arange(N_RESERVED, estimator.n_item_codes_, dtype=np.int64)


def export_onnx(
    estimator, path, tower: str = "user", *, opset_version: int = OPSET
) -> Path:
    """Write a fitted estimator's user or item tower to an ONNX file.

    The graph has a dynamic batch axis and runs on CPU in float32. Inputs
    (``onnxruntime.InferenceSession(path).get_inputs()`` lists them):

    - ``tower="user"``: ``history``, ``(batch, max_seq_len)`` int64 item codes, most
      recent last, left-padded with 0; then ``user_<feature>`` for each user feature of
      the FeatureSpec, one row per user. :func:`user_tower_inputs` builds them from ids
      or a history DataFrame.
    - ``tower="item"``: ``item_codes``, ``(batch,)`` int64 (see :func:`item_codes`).

    Output ``user_vectors`` (``item_vectors``): ``(batch, d)``, or
    ``(batch, n_interests, d)`` for the multi-interest user towers (MIND, ComirecDR,
    ComirecSA, SINE): what ``transform_users`` (``transform_items``) returns, to float32
    rounding.

    Parameters
    ----------
    estimator : fitted TorchMatcher
        Any of the twelve neural estimators (not Popularity).
    path : str or path-like
        Where to write the ``.onnx`` file (parent folders are created).
    tower : {"user", "item"}, default "user"
    opset_version : int, default 18
        The ONNX opset of the file: 18 (the lowest torch's exporter writes) or a later
        one it supports; any other request is refused rather than silently changed.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    Needs the ``onnx`` extra (``pip install skmatch[onnx]``: onnx, onnxscript; onnxruntime
    to run the file). The model is exported from a CPU copy of its weights, so a model
    fitted on CUDA exports the same graph.
    """
    _check_exportable(estimator)
    check_choice(tower, "tower", ("user", "item"))
    opset_version = check_int(opset_version, "opset_version", low=OPSET)
    try:
        import onnx  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the onnx extra is installed in tests
        raise ImportError(
            "export_onnx needs the onnx package: pip install 'skmatch[onnx]'"
        ) from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = _cpu_copy(estimator)
    if tower == "user":
        names = user_input_names(estimator)
        example = user_tower_inputs(estimator, _example_users(estimator))
        wrapper = _UserTower(module, list(estimator.feature_spec_.user_table_))
        args = tuple(torch.from_numpy(example[n]) for n in names)
    else:
        names = [ITEM_INPUT]
        wrapper = _ItemTower(module)
        args = (torch.from_numpy(item_codes(estimator)[:3].copy()),)
    _export(wrapper.eval(), args, names, OUTPUTS[tower], path, opset_version)
    return path


def _cpu_copy(estimator) -> nn.Module:
    """The fitted module rebuilt on CPU from its state dict (the estimator is untouched)."""
    state = {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()}
    return estimator._module_from_state(state)


def _example_users(estimator) -> np.ndarray:
    """Three known user ids (a batch of 1 would let the exporter fix the batch size)."""
    spec = estimator.feature_spec_
    codes = np.arange(N_RESERVED, spec.n_users_ + N_RESERVED)[:3]
    return np.resize(spec.inverse_transform_users(codes), 3)


def _export(wrapper, args: tuple, names: list[str], output: str, path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1)
    if len(names) > 1:  # forward(history, *features): the features form one tuple
        dynamic_shapes = ({0: batch}, tuple({0: batch} for _ in args[1:]))
    else:
        dynamic_shapes = ({0: batch},)
    with warnings.catch_warnings():
        # the exporter reports its progress and version notes as warnings
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper,
            args,
            input_names=names,
            output_names=[output],
            opset_version=opset,
            dynamic_shapes=dynamic_shapes,
            dynamo=True,
            external_data=False,
            optimize=False,
            verbose=False,
        )
    program.save(os.fspath(path))
    import onnx

    written = {o.domain: o.version for o in onnx.load(os.fspath(path)).opset_import}.get("")
    if written != opset:  # the exporter may fall back to another opset: refuse the file
        path.unlink()
        raise ValueError(
            f"opset_version={opset} is not supported by this torch's ONNX exporter (it wrote "
            f"opset {written}); pass opset_version={written} or another opset it supports."
        )
