"""Hyperparameter search spaces, grid and (quasi-)random designs, and seed-spread intervals."""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats import qmc


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: a range, searched uniformly in ``log`` space or linearly."""

    name: str
    low: float
    high: float
    log: bool = False

    def scale(self, unit: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range."""
        if self.log:
            return np.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        return self.low + unit * (self.high - self.low)


def _points(space: Sequence[Dimension], unit: np.ndarray) -> list[dict[str, float]]:
    columns = [dimension.scale(unit[:, i]) for i, dimension in enumerate(space)]
    return [{d.name: float(c[row]) for d, c in zip(space, columns, strict=True)} for row in range(len(unit))]


def grid(space: Sequence[Dimension], per_dimension: int) -> list[dict[str, float]]:
    """Every combination of ``per_dimension`` evenly spaced values (ends included) of each dimension."""
    levels = np.linspace(0, 1, per_dimension) if per_dimension > 1 else np.array([0.5])
    unit = np.array(list(itertools.product(levels, repeat=len(space))))
    return _points(space, unit)


def random_points(space: Sequence[Dimension], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` independent uniform draws (log-uniform where ``log``)."""
    return _points(space, np.random.default_rng(seed).random((n, len(space))))


def quasi_random_points(space: Sequence[Dimension], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` points of a scrambled Halton sequence: random-like, but spread evenly over the space,
    with a distinct value of every dimension in every trial."""
    return _points(space, qmc.Halton(d=len(space), scramble=True, seed=seed).random(n))


@dataclass(frozen=True)
class Interval:
    """Mean of repeated measurements with a Student-t confidence interval."""

    mean: float
    low: float
    high: float
    std: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.half_width:.3f}"


def interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and ``confidence`` interval of ``values`` (t distribution; zero width for one value)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("interval of no values")
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return Interval(mean, mean - half, mean + half, std, n)


def distinguishable(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> bool:
    """Whether the means of two groups of seeds differ beyond noise (Welch's t-test at ``confidence``).

    Groups of fewer than two values are never distinguishable: one seed says nothing about spread.
    """
    if len(a) < 2 or len(b) < 2:
        return False
    if np.std(a) == 0 and np.std(b) == 0:
        return float(np.mean(a)) != float(np.mean(b))
    return bool(stats.ttest_ind(a, b, equal_var=False).pvalue < 1 - confidence)
