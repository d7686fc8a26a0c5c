"""Per-epoch training checkpoints: written atomically, read back without unpickling."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from skmatch.training.distributed import world

FORMAT = "skmatch-checkpoint"
FORMAT_VERSION = 1
FILENAME = "checkpoint.pt"
# parameters that may change between an interrupted fit and its resumption
_RESUMABLE = {
    "n_epochs", "warm_start", "checkpoint_dir", "verbose", "device", "validation_interval"
}


def checkpoint_path(directory) -> Path:
    """The one checkpoint file of ``directory``."""
    return Path(directory) / FILENAME


def fingerprint(est, inter) -> str:
    """What a checkpoint must match to be resumed: the model, its settings and the data."""
    params = {
        k: v for k, v in est.get_params(deep=False).items()
        if k not in _RESUMABLE and k != "feature_spec"
    }  # fmt: skip
    h = hashlib.sha256()
    h.update(type(est).__name__.encode())
    h.update(json.dumps(params, sort_keys=True, default=repr).encode())
    h.update(repr(est.feature_spec_.get_params()).encode())
    spec = est.feature_spec_
    arrays = [inter.user_codes, inter.item_codes, inter.times, inter.labels, inter.weights]
    arrays += [inter.user_features[k] for k in sorted(inter.user_features)]
    # side tables (item categories, user segments) and feature vocabularies shape the
    # module and what it learns: a change must not resume
    arrays += [spec.item_table_[k] for k in sorted(spec.item_table_)]
    arrays += [spec.user_table_[k] for k in sorted(spec.user_table_)]
    for array in arrays:
        h.update(b"|" if array is None else np.ascontiguousarray(array).tobytes())
    h.update(repr(sorted((k, len(v)) for k, v in spec.vocabularies_.items())).encode())
    if world()[1] > 1:  # shards, steps and schedule depend on the number of ranks
        h.update(f"world_size={world()[1]}".encode())
    return h.hexdigest()


def save_checkpoint(directory, state: dict) -> None:
    """Write ``state`` as the directory's checkpoint: a temporary file, then a rename.

    A fit killed at any moment leaves either the previous checkpoint or the new one,
    never a truncated file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory)
    tmp = directory / f".{FILENAME}.tmp{os.getpid()}"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(directory, expected_fingerprint: str) -> dict | None:
    """The directory's checkpoint, or None when there is none.

    Raises
    ------
    ValueError
        The file is unreadable, not a checkpoint, from a newer format, or was written by
        another model, other settings or other data.
    """
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file (torch's text is not shown: it
        # suggests weights_only=False, which would run code from the file)
        raise ValueError(
            f"{path} is not a readable skmatch checkpoint ({type(exc).__name__}). Delete "
            "it to train from scratch."
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a skmatch checkpoint. Delete it or choose another "
                         "checkpoint_dir.")  # fmt: skip
    if state["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {state['format_version']}; this skmatch reads up "
            f"to {FORMAT_VERSION}. Upgrade skmatch or delete the checkpoint."
        )
    if state["fingerprint"] != expected_fingerprint:
        raise ValueError(
            f"{path} was written by a fit of another model, other parameters or other data "
            "(only n_epochs, device and verbose may change before resuming). Delete it or "
            "choose another checkpoint_dir to train from scratch."
        )
    return state


def rng_state(rng: np.random.Generator) -> str:
    """A numpy Generator's state as JSON (its integers exceed 64 bits)."""
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)
