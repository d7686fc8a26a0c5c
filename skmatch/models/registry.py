"""The one list of skmatch's estimators: the package's imports, ``all_estimators``, the
docs' model index and the common tests all read it.

Adding a model is one line here (its name, its module, its family); see
``docs/contributing.md``.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple


class Entry(NamedTuple):
    """An estimator: its class name, the module that defines it, its family."""

    name: str
    module: str
    family: str


FAMILIES = ("baseline", "two_tower", "sequential", "multi_interest")

ESTIMATORS = (
    Entry("Popularity", "skmatch.models.popularity", "baseline"),
    Entry("DSSM", "skmatch.models.two_tower.dssm", "two_tower"),
    Entry("FaceBookDSSM", "skmatch.models.two_tower.facebook_dssm", "two_tower"),
    Entry("YoutubeDNN", "skmatch.models.two_tower.youtube_dnn", "two_tower"),
    Entry("YoutubeSBC", "skmatch.models.two_tower.youtube_sbc", "two_tower"),
    Entry("GRU4Rec", "skmatch.models.sequential.gru4rec", "sequential"),
    Entry("NARM", "skmatch.models.sequential.narm", "sequential"),
    Entry("SASRec", "skmatch.models.sequential.sasrec", "sequential"),
    Entry("STAMP", "skmatch.models.sequential.stamp", "sequential"),
    Entry("MIND", "skmatch.models.multi_interest.mind", "multi_interest"),
    Entry("ComirecDR", "skmatch.models.multi_interest.comirec_dr", "multi_interest"),
    Entry("ComirecSA", "skmatch.models.multi_interest.comirec_sa", "multi_interest"),
    Entry("SINE", "skmatch.models.multi_interest.sine", "multi_interest"),
)

BY_NAME = {entry.name: entry for entry in ESTIMATORS}


def load(name: str) -> type:
    """The estimator class called ``name`` (imported on first use)."""
    return getattr(importlib.import_module(BY_NAME[name].module), name)


def all_estimators(family: str | None = None) -> list[type]:
    """The estimator classes, in registry order (like ``sklearn.utils.all_estimators``).

    Parameters
    ----------
    family : {"baseline", "two_tower", "sequential", "multi_interest", "neural"}, optional
        Only that family (``"neural"``: the torch models); all of them when None.

    Returns
    -------
    list of type

    Examples
    --------
    >>> from skmatch.models import all_estimators
    >>> [cls.__name__ for cls in all_estimators("sequential")]
    ['GRU4Rec', 'NARM', 'SASRec', 'STAMP']
    >>> len(all_estimators()), len(all_estimators("neural"))
    (13, 12)
    """
    if family is not None and family not in (*FAMILIES, "neural"):
        raise ValueError(f"family must be one of {[*FAMILIES, 'neural']} or None, got {family!r}.")
    return [
        load(entry.name)
        for entry in ESTIMATORS
        if family is None
        or entry.family == family
        or (family == "neural" and entry.family != "baseline")
    ]


def family_of(cls: type) -> str:
    """The family of an estimator class of the registry."""
    return BY_NAME[cls.__name__].family
