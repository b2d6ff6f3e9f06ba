import math

import pytest

from utils.topics import tuning
from utils.verdicts import HELD, NOT_HELD, Claim

SPACE = [tuning.Dimension("lr", 1e-5, 1e-3, log=True), tuning.Dimension("wd", 0.0, 0.1)]


def test_grid_covers_ends_and_log_midpoint():
    points = tuning.grid(SPACE, 3)
    assert len(points) == 9
    lrs = sorted({round(p["lr"], 12) for p in points})
    assert lrs == pytest.approx([1e-5, 1e-4, 1e-3])
    assert sorted({p["wd"] for p in points}) == pytest.approx([0.0, 0.05, 0.1])


def test_quasi_random_points_distinct_and_in_range():
    points = tuning.quasi_random_points(SPACE, 9, seed=0)
    assert len({p["lr"] for p in points}) == 9
    assert all(1e-5 <= p["lr"] <= 1e-3 and 0 <= p["wd"] <= 0.1 for p in points)
    assert points == tuning.quasi_random_points(SPACE, 9, seed=0)
    assert all(1e-5 <= p["lr"] <= 1e-3 for p in tuning.random_points(SPACE, 5, seed=1))


def test_interval():
    result = tuning.interval([1.0, 2.0, 3.0])
    assert result.mean == 2.0 and result.std == 1.0 and result.n == 3
    # t(0.975, 2) = 4.303
    assert result.half_width == pytest.approx(4.303 / math.sqrt(3), rel=1e-3)
    assert tuning.interval([0.5]).half_width == 0.0
    with pytest.raises(ValueError):
        tuning.interval([])


def test_distinguishable():
    assert tuning.distinguishable([0.90, 0.91, 0.90], [0.70, 0.71, 0.70])
    assert not tuning.distinguishable([0.90, 0.80, 0.85], [0.86, 0.82, 0.88])
    assert not tuning.distinguishable([0.9], [0.1])


def test_welch_p():
    assert tuning.welch_p([0.9], [0.1]) == 1.0
    assert tuning.welch_p([0.5, 0.5], [0.4, 0.4]) == 0.0
    assert tuning.welch_p([0.5, 0.5], [0.5, 0.5]) == 1.0
    # Means 3 apart, standard deviations 1: t = 3 / sqrt(1/3 + 1/3) = 3.67 with 4 degrees of freedom.
    assert tuning.welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.0213, abs=1e-4)


def test_summarise_groups_in_order_of_appearance():
    rows = [
        {"lr": 1e-3, "validation accuracy": 0.8},
        {"lr": 1e-4, "validation accuracy": 0.9},
        {"lr": 1e-3, "validation accuracy": 0.6},
        {"lr": 1e-4, "validation accuracy": 0.9},
    ]
    table = tuning.summarise(rows, "lr")
    assert list(table.index) == [1e-3, 1e-4]
    assert table.loc[1e-3, "mean"] == pytest.approx(0.7) and table.loc[1e-3, "n"] == 2
    assert table.loc[1e-4, "std"] == 0 and table.loc[1e-4, "low"] == table.loc[1e-4, "high"]


def test_scores_filter_by_settings_in_seed_order():
    rows = [
        {"seed": 43, "lr": 1e-3, "clip": None, "validation accuracy": 0.7, "test accuracy": 0.6},
        {"seed": 42, "lr": 1e-3, "clip": None, "validation accuracy": 0.8, "test accuracy": 0.5},
        {"seed": 42, "lr": 1e-4, "clip": 1.0, "validation accuracy": 0.9, "test accuracy": 0.4},
    ]
    assert tuning.scores(rows, lr=1e-3) == [0.8, 0.7]
    assert tuning.scores(rows, "test accuracy", clip=None) == [0.5, 0.6]
    assert tuning.scores(rows, lr=1e-5) == []


GAIN = Claim("clipping", "clipping helps", "clipped − unclipped accuracy", 1, ">=", " points", 1)


def test_judge_gain_holds_a_clear_difference():
    verdict = tuning.judge_gain(GAIN, [0.90, 0.91, 0.92], [0.80, 0.82, 0.81])
    assert verdict.state == HELD and not verdict.within_noise
    assert verdict.measured["values"] == pytest.approx([10.0, 9.0, 11.0])
    assert verdict.measured["welch_p"] < 0.05 and "Welch p" in verdict.evidence


def test_judge_gain_refuses_a_mean_that_seed_noise_could_produce():
    verdict = tuning.judge_gain(GAIN, [0.95, 0.80, 0.92], [0.90, 0.82, 0.85], explanation="one seed diverged")
    assert verdict.measured["mean"] >= 1  # the mean difference passes the threshold ...
    assert verdict.state == NOT_HELD and verdict.within_noise  # ... but the groups overlap
    assert "not distinguishable from seed noise" in verdict.explanation
    assert verdict.explanation.endswith("one seed diverged")
    assert tuning.judge_gain(GAIN, [0.80, 0.81], [0.90, 0.91]).state == NOT_HELD
    with pytest.raises(ValueError):
        tuning.judge_gain(GAIN, [0.9, 0.9], [0.8])
