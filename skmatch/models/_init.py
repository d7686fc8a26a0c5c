"""Generated keyword-only constructors for the neural models.

Every neural model takes the same ~20 common parameters plus its own. Rather than
repeating them in twelve hand-written ``__init__`` methods, :func:`make_init` builds an
``__init__`` that only stores its keyword arguments (the scikit-learn contract) and
carries an explicit ``inspect.Signature``, which ``get_params``, ``clone`` and IDEs read.
Torch-RecHub parameter names are accepted as aliases and stored under our names.
"""

from __future__ import annotations

import inspect

from skmatch.models._torch_base import COMMON_DEFAULTS

ALIASES = {
    "n_epoch": "n_epochs",
    "interest_num": "n_interests",
    "embedding_dim": "embed_dim",
    "lr": "learning_rate",
    "neg_ratio": "n_negatives",
}


def make_init(**own_defaults):
    """An ``__init__`` storing the common parameters and ``own_defaults`` unchanged."""
    defaults = {**COMMON_DEFAULTS, **own_defaults}
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
        for name, value in defaults.items()
    ]

    def __init__(self, **kwargs):
        for alias, name in ALIASES.items():
            if alias in kwargs and name in defaults:
                if name in kwargs:
                    raise TypeError(f"Pass either {name!r} or its alias {alias!r}, not both.")
                kwargs[name] = kwargs.pop(alias)
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected parameter(s) {unknown}; "
                f"valid ones are {sorted(defaults)}."
            )
        for name, value in defaults.items():
            setattr(self, name, kwargs.get(name, value))

    __init__.__signature__ = inspect.Signature(params)
    return __init__
