"""Negative samplers driven by a seeded numpy Generator (never the positive item)."""

from __future__ import annotations

import numpy as np

_MAX_REDRAWS = 64


class NegativeSampler:
    """Draw negative item codes from ``[first_code, n_codes)``.

    Parameters
    ----------
    counts : ndarray of shape (n_codes,)
        Training count of every item code (reserved codes included, their count unused).
    kind : {"uniform", "popularity"}
        Uniform over items, or proportional to ``count ** 0.75`` (word2vec).
    first_code : int, default 2
        The first real item code.
    """

    def __init__(self, counts: np.ndarray, kind: str, first_code: int = 2) -> None:
        self.kind = kind
        self.first = first_code
        self.n_codes = counts.size
        if self.n_codes - first_code < 2:
            raise ValueError("Negative sampling needs at least 2 known items.")
        if kind == "popularity":
            p = np.asarray(counts[first_code:], dtype=np.float64) ** 0.75
            p = p + 1e-12
            self.prob = p / p.sum()
            self.cdf = np.cumsum(self.prob)
            self.cdf[-1] = 1.0
        elif kind == "uniform":
            self.prob = np.full(self.n_codes - first_code, 1.0 / (self.n_codes - first_code))
            self.cdf = None
        else:
            raise ValueError(f"Unknown sampler kind {kind!r}.")

    def _draw(self, rng: np.random.Generator, size) -> np.ndarray:
        if self.cdf is None:
            return rng.integers(self.first, self.n_codes, size=size)
        return np.searchsorted(self.cdf, rng.random(size), side="right") + self.first

    def sample(self, rng: np.random.Generator, positives: np.ndarray, n: int) -> np.ndarray:
        """``(len(positives), n)`` int64 codes, none equal to its row's positive."""
        out = self._draw(rng, (positives.size, n))
        for _ in range(_MAX_REDRAWS):
            clash = out == positives[:, None]
            if not clash.any():
                break
            out[clash] = self._draw(rng, int(clash.sum()))
        else:  # pathological distribution: shift clashes to the next code
            clash = out == positives[:, None]
            out[clash] = (out[clash] - self.first + 1) % (self.n_codes - self.first) + self.first
        return out.astype(np.int64, copy=False)

    def log_q(self, codes: np.ndarray) -> np.ndarray:
        """Log sampling probability of item codes."""
        return np.log(self.prob[codes - self.first])
