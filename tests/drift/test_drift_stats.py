"""The drift statistics against values computed by hand (scipy is not a dependency)."""

from __future__ import annotations

import math
import random

import pytest

from dojo.drift.page_hinkley import PageHinkley
from dojo.drift.stats import (
    average_ranks,
    coarsen,
    histogram,
    ks_critical,
    ks_from_counts,
    ks_statistic,
    psi,
    sample_sd,
    spearman,
    spearman_drop_z,
)


def test_average_ranks_share_ties() -> None:
    assert average_ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]) == [3.0, 1.0, 2.0]


def test_spearman_without_ties_matches_the_textbook_formula() -> None:
    # rho = 1 − 6·Σd² / (n(n² − 1)) = 1 − 6·4 / 120
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)


def test_spearman_with_ties_is_pearson_on_average_ranks() -> None:
    # ranks of y: 1, 2, 3.5, 5, 3.5 → Σdxdy = 8, Σdx² = 10, Σdy² = 9.5
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_spearman_is_undefined_on_constants_and_tiny_samples() -> None:
    assert spearman([1, 2, 3], [0.5, 0.5, 0.5]) is None
    assert spearman([1, 2], [1, 2]) is None
    with pytest.raises(ValueError, match="equal lengths"):
        spearman([1, 2, 3], [1, 2])


def test_spearman_drop_on_fishers_scale() -> None:
    # (atanh 0.8 − atanh 0.5) / sqrt(2 · 1.06 / 100)
    expected = (1.0986122887 - 0.5493061443) / math.sqrt(0.0212)
    assert spearman_drop_z(0.8, 103, 0.5, 103) == pytest.approx(expected)
    assert spearman_drop_z(0.5, 103, 0.8, 103) == pytest.approx(-expected)


def test_psi_by_hand() -> None:
    # shares .5/.5 against .25/.75: .25·ln 2 + (−.25)·ln(2/3)
    assert psi([50, 50], [25, 75]) == pytest.approx(0.25 * (math.log(2) + math.log(1.5)))
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    # An empty reference bin costs a bounded amount thanks to the floor.
    assert psi([1, 9], [0, 10], epsilon=0.01) == pytest.approx(
        (0.1 - 0.01) * math.log(10) + (0.9 - 1.0) * math.log(0.9)
    )


def test_ks_statistic_by_hand() -> None:
    # at 3: F_a = 1, F_b = 1/2
    assert ks_statistic([1, 2, 3], [2, 3, 4, 5]) == pytest.approx(0.5)
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([0.0], [1.0]) == 1.0


def test_binned_ks_equals_exact_ks_for_values_on_the_grid() -> None:
    rng = random.Random(3)
    centres = [-1 + (i + 0.5) * 0.01 for i in range(200)]
    for _ in range(20):
        a = [rng.choice(centres[80:130]) for _ in range(rng.randint(5, 60))]
        b = [rng.choice(centres[90:140]) for _ in range(rng.randint(5, 60))]
        assert ks_from_counts(histogram(a, 200), histogram(b, 200)) == pytest.approx(
            ks_statistic(a, b)
        )


def test_ks_critical_value() -> None:
    assert ks_critical(100, 100, 1.36) == pytest.approx(1.36 * math.sqrt(0.02))


def test_histogram_edges_and_coarsening() -> None:
    counts = histogram([-1.0, -0.999, 0.0, 0.999, 1.0, 5.0], bins=4)
    assert counts == [2, 0, 1, 3]  # [-1,-.5) [-.5,0) [0,.5) [.5,1]; 5.0 clamps into the last
    assert coarsen([1, 2, 3, 4, 5, 6], 2) == [3, 7, 11]
    with pytest.raises(ValueError):
        coarsen([1, 2, 3], 2)


def test_sample_sd() -> None:
    assert sample_sd([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7))
    assert sample_sd([1.0]) is None


def test_page_hinkley_by_hand() -> None:
    up = PageHinkley()
    assert up.update(0.0, 0.0, 1.5, burn_in=1) is None  # burn-in: sets the mean only
    assert up.update(0.0, 0.0, 1.5, burn_in=1) is None
    alarm = up.update(3.0, 0.0, 1.5, burn_in=1)  # mean 1: up = 3 − 1 = 2 > 1.5
    assert alarm is not None and alarm.direction == "up" and alarm.statistic == pytest.approx(2.0)
    assert up.n == 0  # restarted

    down = PageHinkley()
    for x in (0.0, 0.0):
        down.update(x, 0.0, 1.5, burn_in=1)
    alarm = down.update(-3.0, 0.0, 1.5, burn_in=1)
    assert alarm is not None and alarm.direction == "down"


def test_page_hinkley_tolerates_drift_below_delta() -> None:
    ph = PageHinkley()
    rng = random.Random(0)
    alarms = [ph.update(rng.gauss(0.0, 1.0), 0.5, 16.0, burn_in=30) for _ in range(20_000)]
    assert not any(alarms)
    shifted = [ph.update(rng.gauss(1.5, 1.0), 0.5, 16.0, burn_in=30) for _ in range(200)]
    assert any(a is not None and a.direction == "up" for a in shifted)
