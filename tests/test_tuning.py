import math

import pytest

from utils.topics import tuning

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
