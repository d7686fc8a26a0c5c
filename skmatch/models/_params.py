"""Validation of the constructor parameters shared by the neural models."""

from __future__ import annotations

import inspect
import math
import os
from numbers import Integral, Real

import numpy as np

MODES = ("pointwise", "pairwise", "listwise")
NEGATIVES = ("in_batch", "uniform", "popularity", "mixed", "hard", "all")
SCHEDULES = (None, "cosine", "linear")

# Torch-RecHub's (and the papers' code's) spellings of our parameters, accepted by every
# constructor that has the parameter; docs/migration.md lists them
ALIASES = {
    "n_epoch": "n_epochs",
    "interest_num": "n_interests",
    "n_interest": "n_interests",
    "num_intention": "n_interests",
    "embedding_dim": "embed_dim",
    "lr": "learning_rate",
    "neg_ratio": "n_negatives",
    "num_layers": "n_layers",
    "num_blocks": "n_layers",
    "num_heads": "n_heads",
    "dropout_rate": "dropout",
    "emb_dropout_p": "dropout",
    "session_rep_dropout_p": "output_dropout",
    "hidden_dim": "hidden_size",
    "dynamic_interest": "dynamic_interests",
    "num_concept": "n_concepts",
}
# the history window: a parameter of the FeatureSpec, set on (a copy of) it
SPEC_ALIASES = ("max_length", "max_len", "seq_max_len")
# Torch-RecHub's tower dicts: {"dims": [...hidden, output], "activation": ..., "dropout": ...}
TOWER_ALIASES = ("user_params", "item_params")
# Torch-RecHub's MatchTrainer modes
MODES_BY_NUMBER = {0: "pointwise", 1: "pairwise", 2: "listwise"}


def store_params(est, values: dict) -> None:
    """Store an estimator's constructor arguments unchanged: the body of every neural
    model's ``__init__`` (called with its ``locals()``).

    Each keyword argument becomes the attribute of its name (the scikit-learn contract:
    no validation here, it happens in ``fit``). The keyword arguments collected in
    ``aliases`` are Torch-RecHub's spellings, stored under our names: :data:`ALIASES`,
    the history window (:data:`SPEC_ALIASES`, set on a copy of ``feature_spec``) and the
    tower dicts (:data:`TOWER_ALIASES`). Any other name, or an alias given along with a
    different value of its own name, is a ``TypeError``.
    """
    values = {k: v for k, v in values.items() if k not in ("self", "__class__")}
    aliases = values.pop("aliases", {})
    if aliases:
        defaults = inspect.signature(type(est).__init__).parameters
        for alias, value in aliases.items():
            for name, val in _translate(type(est).__name__, alias, value, values).items():
                if name not in defaults:
                    raise TypeError(
                        f"{type(est).__name__} has no parameter {name!r}, which its alias "
                        f"{alias!r} sets."
                    )
                default = defaults[name].default
                given = values[name]
                if name == "feature_spec":  # the window alias: clash only on the window
                    clash = given is not None and given.max_seq_len not in (
                        default_window(), value
                    )
                else:
                    clash = given is not default and given != default and given != val
                if clash:
                    raise TypeError(f"Pass either {name!r} or its alias {alias!r}, not both.")
                values[name] = val
    for name, value in values.items():
        setattr(est, name, value)


def default_window() -> int:
    """The history window of a default ``FeatureSpec()``."""
    from skmatch.features import FeatureSpec

    return FeatureSpec().max_seq_len


def _translate(model: str, alias: str, value, values: dict) -> dict:
    """Our parameters (name -> value) for one alias of ``model``."""
    if ALIASES.get(alias) in values:
        return {ALIASES[alias]: value}
    if alias in SPEC_ALIASES:
        from sklearn.base import clone

        from skmatch.features import FeatureSpec

        spec = values["feature_spec"]
        spec = FeatureSpec() if spec is None else clone(spec)
        return {"feature_spec": spec.set_params(max_seq_len=value)}
    tower = alias.split("_")[0]
    widths = f"{tower}_hidden_dims"
    if widths not in values and tower == "user" and "hidden_dims" in values:
        widths = "hidden_dims"  # a model with one MLP tower (YoutubeDNN)
    # the tower dicts of Torch-RecHub's two-tower models (the ones with an activation)
    if alias in TOWER_ALIASES and widths in values and "activation" in values:
        if not isinstance(value, dict) or set(value) - {"dims", "activation", "dropout"}:
            raise TypeError(
                f"{alias} must be a dict with keys among 'dims', 'activation', 'dropout' (as "
                f"Torch-RecHub's), got {value!r}."
            )
        out = {}
        if "dims" in value:  # the last width is the tower's output: our embed_dim
            out[widths], out["embed_dim"] = tuple(value["dims"][:-1]), value["dims"][-1]
        if "activation" in value:
            out["activation"] = str(value["activation"]).lower()
        if "dropout" in value:
            out["dropout"] = value["dropout"]
        return out
    raise TypeError(
        f"{model} got unexpected parameter(s) [{alias!r}]; valid ones are {sorted(values)}."
    )


def check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def check_float(
    value, name: str, low: float = 0.0, *, strict: bool = False, allow_inf: bool = False
) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok and not allow_inf:
        ok = math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        op = ">" if strict else ">="
        what = "a number" if allow_inf else "a finite number"
        raise ValueError(f"{name} must be {what} {op} {low}, got {value!r}.")
    return float(value)


def check_widths(value, name: str) -> tuple[int, ...]:
    """A tuple or list of positive integer layer widths."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of positive integers, got {value!r}.")
    return tuple(check_int(v, f"{name} entries") for v in value)


def check_bool(value, name: str) -> bool:
    """A bool (numpy's included); a truthy string or number is refused (a ValueError,
    like the other parameter checks)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_dropout(value, name: str = "dropout") -> float:
    """A dropout probability in [0, 1)."""
    value = check_float(value, name)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}.")
    return value


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def loss_mode(mode) -> str:
    """``mode`` as one of :data:`MODES` (Torch-RecHub's 0 / 1 / 2 accepted)."""
    if isinstance(mode, Integral) and not isinstance(mode, bool):
        return MODES_BY_NUMBER[int(mode)]
    return mode


def validate_common(est) -> None:
    """Check the common parameters of a TorchMatcher (called at the start of fit)."""
    check_int(est.embed_dim, "embed_dim")
    if not (isinstance(est.mode, Integral) and not isinstance(est.mode, bool)
            and est.mode in MODES_BY_NUMBER):  # fmt: skip
        check_choice(est.mode, "mode", MODES)
    check_choice(est.negatives, "negatives", est._allowed_negatives)
    check_int(est.n_negatives, "n_negatives")
    check_float(est.temperature, "temperature", 0.0, strict=True)
    check_float(est.learning_rate, "learning_rate", 0.0, strict=True)
    check_float(est.weight_decay, "weight_decay")
    check_float(est.embedding_l2, "embedding_l2")
    if est.batch_size != "auto":
        check_int(est.batch_size, "batch_size", 2)
    check_int(est.n_epochs, "n_epochs")
    check_int(est.n_iter_no_change, "n_iter_no_change")
    if est.validation_interval != "auto":
        check_int(est.validation_interval, "validation_interval")
    check_choice(est.lr_schedule, "lr_schedule", SCHEDULES)
    if est.clip_grad_norm is not None:
        check_float(est.clip_grad_norm, "clip_grad_norm", 0.0, strict=True)
    if est.device not in ("auto", "cpu", "cuda") and not str(est.device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {est.device!r}.")
    if not (est.amp == "auto" or isinstance(est.amp, bool)):
        raise ValueError(f"amp must be 'auto', True or False, got {est.amp!r}.")
    check_choice(est.index, "index", ("auto", "exact", "hnsw"))
    seed = est.random_state
    if not (
        seed is None
        or isinstance(seed, np.random.Generator)
        or (isinstance(seed, Integral) and not isinstance(seed, bool) and seed >= 0)
    ):
        raise ValueError(
            f"random_state must be None, an integer >= 0 or a numpy.random.Generator, got "
            f"{seed!r}."
        )
    for flag in ("early_stopping", "logq_correction", "warm_start"):
        check_bool(getattr(est, flag), flag)
    if est.checkpoint_dir is not None and not isinstance(est.checkpoint_dir, str | os.PathLike):
        raise TypeError(
            f"checkpoint_dir must be a path (str or os.PathLike) or None, got "
            f"{type(est.checkpoint_dir).__name__}."
        )
    if est.checkpoint_dir is not None and os.path.exists(est.checkpoint_dir) and not (
        os.path.isdir(est.checkpoint_dir)
    ):
        raise ValueError(
            f"checkpoint_dir must be a directory; {os.fspath(est.checkpoint_dir)!r} is a "
            "file. Choose another path."
        )
    if est.warm_start and est.checkpoint_dir is None:
        raise ValueError(
            "warm_start=True resumes from the checkpoint in checkpoint_dir; set "
            "checkpoint_dir (the folder an earlier fit with that checkpoint_dir wrote to)."
        )
