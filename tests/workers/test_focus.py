"""Focused dealing: the weaker the policy at an episode type, the more often it is dealt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from dojo.curriculum import director_specs
from dojo.workers.focus import focus_weights

STAGE_1 = ("E-1.1", "E-1.2", "E-1.3", "E-1.4", "E-1.5")
# what a learner reported after a few hundred updates: research stuck at stopping early
RETURNS = {"E-1.1": 0.47, "E-1.2": 0.27, "E-1.3": 0.25, "E-1.4": 0.32, "E-1.5": 0.12}


def test_the_weakest_type_is_dealt_most_and_none_is_starved() -> None:
    weights = dict(zip(STAGE_1, focus_weights(STAGE_1, RETURNS, 0.5, 0.1), strict=True))
    assert sum(weights.values()) == pytest.approx(1.0)
    assert max(weights, key=weights.__getitem__) == "E-1.5"
    assert min(weights, key=weights.__getitem__) == "E-1.1"  # the strongest
    assert weights["E-1.5"] == pytest.approx(0.40, abs=0.01)
    # half the episodes stay uniform: every type keeps at least a tenth
    assert min(weights.values()) >= 0.5 / len(STAGE_1)
    # the ordering follows the returns
    assert (
        sorted(STAGE_1, key=weights.__getitem__) == sorted(STAGE_1, key=RETURNS.__getitem__)[::-1]
    )


def test_without_focus_or_returns_dealing_is_uniform() -> None:
    assert focus_weights(STAGE_1, RETURNS, 0.0, 0.1) == [0.2] * 5
    assert focus_weights(STAGE_1, {}, 0.5, 0.1) == [0.2] * 5
    assert focus_weights(STAGE_1, {"E-2.1": 0.0}, 0.5, 0.1) == [0.2] * 5  # none of these


def test_a_type_without_a_return_counts_as_the_weakest_known() -> None:
    returns = {"E-1.1": 0.6, "E-2.1": 0.2}  # a new stage's E-2.2 has no return yet
    weights = focus_weights(("E-1.1", "E-2.1", "E-2.2"), returns, 0.5, 0.1)
    assert weights[1] == pytest.approx(weights[2]) and weights[2] > weights[0]


@pytest.mark.parametrize(("focus", "temperature"), [(-0.1, 0.1), (1.5, 0.1), (0.5, 0.0)])
def test_bad_focus_settings_are_refused(focus: float, temperature: float) -> None:
    with pytest.raises(ValueError, match=r"(focus|temperature) must be"):
        focus_weights(STAGE_1, RETURNS, focus, temperature)


def test_the_director_deals_its_types_by_the_weights() -> None:
    def deal(offered: Sequence[str]) -> list[float]:
        return focus_weights(offered, RETURNS, 0.5, 0.1)

    specs = director_specs(1, seed=3, weights=deal)
    counts = Counter(next(specs).episode_type for _ in range(4000))
    assert counts["E-1.5"] / 4000 == pytest.approx(0.40, abs=0.03)
    assert counts["E-1.1"] / 4000 == pytest.approx(0.11, abs=0.02)
    uniform = director_specs(1, seed=3)
    plain = Counter(next(uniform).episode_type for _ in range(4000))
    assert plain["E-1.5"] / 4000 == pytest.approx(0.2, abs=0.03)
