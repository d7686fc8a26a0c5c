"""The estimators of skmatch, by family (like ``sklearn.utils.all_estimators``)."""

from __future__ import annotations

FAMILIES = {
    "baseline": ("Popularity",),
    "two_tower": ("DSSM", "FaceBookDSSM", "YoutubeDNN", "YoutubeSBC"),
    "sequential": ("GRU4Rec", "NARM", "SASRec", "STAMP"),
    "multi_interest": ("MIND", "ComirecDR", "ComirecSA", "SINE"),
}


def all_estimators(family: str | None = None) -> list[type]:
    """The estimator classes, in the order of :data:`FAMILIES`.

    Parameters
    ----------
    family : {"baseline", "two_tower", "sequential", "multi_interest", "neural"}, optional
        Only that family (``"neural"``: the twelve torch models); all thirteen when None.

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
    from skmatch import models

    if family is None:
        names = [n for group in FAMILIES.values() for n in group]
    elif family == "neural":
        names = [n for f, group in FAMILIES.items() if f != "baseline" for n in group]
    elif family in FAMILIES:
        names = list(FAMILIES[family])
    else:
        raise ValueError(f"family must be one of {[*FAMILIES, 'neural']} or None, got {family!r}.")
    return [getattr(models, n) for n in names]
