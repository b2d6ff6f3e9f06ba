"""Hyperparameter search spaces, grid and (quasi-)random designs, seed-spread intervals, and verdicts
on differences that must stand out from seed noise."""

import dataclasses
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from utils import verdicts
from utils.verdicts import Claim, Verdict


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


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that groups ``a`` and ``b`` have the same mean.

    Groups of fewer than two values give 1 (one seed says nothing about spread); two groups without
    any spread give 0 if their values differ, else 1.
    """
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if np.std(a) == 0 and np.std(b) == 0:
        return 0.0 if float(np.mean(a)) != float(np.mean(b)) else 1.0
    with warnings.catch_warnings():
        # Accuracies of a few hundred examples repeat exactly; scipy warns about precision loss when
        # a group's values are (nearly) all equal, and the p-value is still the right one.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def distinguishable(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> bool:
    """Whether the means of two groups of seeds differ beyond noise (Welch's t-test at ``confidence``)."""
    return welch_p(a, b) < 1 - confidence


def scores(rows: Sequence[dict], metric: str = "validation accuracy", **match) -> list[float]:
    """``metric`` of the trial ``rows`` whose settings equal ``match``, in seed order (so that two
    settings measured with the same seeds pair up)."""
    chosen = [row for row in rows if all(row[key] == value for key, value in match.items())]
    return [row[metric] for row in sorted(chosen, key=lambda row: row["seed"])]


def summarise(rows: Sequence[dict], by: str | list[str], metric: str = "validation accuracy") -> pd.DataFrame:
    """Mean of ``metric`` per group of ``rows`` (one row per seed), with a 95% interval, standard
    deviation and count; groups keep their order of first appearance."""
    frame = pd.DataFrame(rows)
    return (
        frame.groupby(by, sort=False)[metric]
        .apply(lambda values: pd.Series(dataclasses.asdict(interval(values))))
        .unstack()[["mean", "low", "high", "std", "n"]]
    )


def judge_gain(
    claim: Claim,
    better: Sequence[float],
    worse: Sequence[float],
    *,
    scale: float = 100.0,
    context: str = "",
    explanation: str = "",
    confidence: float = 0.95,
    repetitions: str = "seeds",
) -> Verdict:
    """The verdict on a claim that ``better`` beats ``worse`` by at least the claim's threshold.

    Both are measured with the same seeds (or other ``repetitions``), in the same order; the
    statistic is their difference per seed, times ``scale`` (100: fractions to points). The claim is
    held only when, besides the mean difference passing the threshold, Welch's t-test tells the two
    groups apart at ``confidence``: a difference that seed noise could produce is *not held (within
    noise)*, with the p-value.
    """
    if len(better) != len(worse):
        raise ValueError(f"pair the groups by seed: {len(better)} vs {len(worse)} values")
    differences = [scale * (b - w) for b, w in zip(better, worse, strict=True)]
    p = welch_p(better, worse)
    noise = f"Welch p = {p:.3f} over {len(better)} {repetitions} each"
    verdict = verdicts.judge(
        claim,
        differences,
        context="; ".join(filter(None, [noise, context])),
        explanation=explanation,
        detail={"welch_p": p},
    )
    if verdict.state == verdicts.HELD and p >= 1 - confidence:
        why = f"the difference is not distinguishable from seed noise ({noise})"
        verdict = dataclasses.replace(
            verdict,
            state=verdicts.NOT_HELD,
            within_noise=True,
            evidence=verdict.evidence + f"; not distinguishable from seed noise at {confidence:.0%}",
            explanation="; ".join(filter(None, [why, explanation])),
        )
    return verdict
