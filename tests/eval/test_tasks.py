"""The solo task bank: at least 60 held-out tasks spanning five dimensions at three levels."""

from __future__ import annotations

import pytest

from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.env.scenario import LEVELS
from dojo.eval.tasks import (
    CODEBASE_LEVELS,
    DIMENSIONS,
    DOMAIN_LEVELS,
    LEVEL_NAMES,
    coverage,
    select_tasks,
    task_bank,
)


def test_the_bank_is_large_held_out_and_balanced() -> None:
    bank = task_bank(60)
    assert len(bank) == 60
    assert len({t.task_id for t in bank}) == 60
    assert len({t.seed for t in bank}) == 60
    assert all(t.seed >= HELD_OUT_SEED_BASE for t in bank)
    # every dimension at every level, equally often
    assert coverage(bank) == {d: dict.fromkeys(LEVEL_NAMES, 20) for d in DIMENSIONS}
    # the levels of different dimensions are not locked together
    assert len({tuple(t.level(d) for d in DIMENSIONS) for t in bank}) > 30
    with pytest.raises(ValueError, match="at least 60"):
        task_bank(59)


def test_a_quick_selection_still_spans_every_level_of_every_dimension() -> None:
    quick = select_tasks(10)
    assert quick == task_bank(100)[:10]  # prefixes are stable: reports stay comparable
    for levels in coverage(quick).values():
        assert all(n >= 3 for n in levels.values())


def test_the_scenario_follows_the_task_levels_and_its_seed() -> None:
    for task in task_bank(60)[:12]:
        story = task.scenario.story
        assert story.ambiguity == LEVELS[task.ambiguity]
        assert story.domain in DOMAIN_LEVELS[task.domain]
        assert task.scenario.team.codebase.kind == CODEBASE_LEVELS[task.codebase]
        assert len(story.constraints) == 1 + round(LEVELS[task.complexity] * 2) + (
            1 if story.ambiguity > 0.6 else 0
        )
        # the same task always builds the same hidden world
        again = task.model_copy().scenario
        assert again == task.scenario
