"""Dataset loaders (MovieLens, Amazon Beauty), a synthetic generator and the data home."""

from skmatch.datasets._amazon import load_amazon_beauty
from skmatch.datasets._base import clear_data_home, get_data_home
from skmatch.datasets._movielens import load_movielens
from skmatch.datasets._synthetic import make_interactions

__all__ = [
    "clear_data_home",
    "get_data_home",
    "load_amazon_beauty",
    "load_movielens",
    "make_interactions",
]
