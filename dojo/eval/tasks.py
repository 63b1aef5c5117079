"""The solo task bank: held-out scenarios over five dimensions at three levels.

Each task fixes a level (easy / medium / hard) for each of SPEC §6's five
dimensions — ambiguity, domain, codebase, complexity, risk — and a held-out
seed (at or above :data:`~dojo.env.protocol.HELD_OUT_SEED_BASE`, so no
training episode ever played it). The simulator's seeded generator
(:func:`dojo.env.scenario.generate_story`, which takes its knobs explicitly)
builds the story from those levels.

Levels are dealt in blocks of three: every block holds each level of every
dimension exactly once, and blocks are shuffled per dimension with a fixed
seed. So every prefix of ``3k`` tasks is balanced on each dimension on its own,
which is what lets a quick evaluation (the first ten tasks) still span the
three levels of all five, while the combinations across dimensions vary.
"""

from __future__ import annotations

import random
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.env.scenario import (
    LEVELS,
    DifficultyLevel,
    Scenario,
    generate_codebase,
    generate_scenario,
)
from dojo.env.scenario import generate_story as _generate_story

Dimension = Literal["ambiguity", "domain", "codebase", "complexity", "risk"]
DIMENSIONS: tuple[Dimension, ...] = ("ambiguity", "domain", "codebase", "complexity", "risk")
LEVEL_NAMES: tuple[DifficultyLevel, ...] = ("easy", "medium", "hard")

#: Domains by how much unwritten rule they carry: plain commerce, then operations,
#: then regulated money and health.
DOMAIN_LEVELS: dict[str, tuple[str, ...]] = {
    "easy": ("retail", "media"),
    "medium": ("logistics", "education"),
    "hard": ("payments", "healthcare"),
}
CODEBASE_LEVELS: dict[str, str] = {"easy": "greenfield", "medium": "small", "hard": "legacy"}

MIN_BANK_SIZE = 60
#: Held-out seeds of the solo bank start here, apart from other held-out uses.
SOLO_SEED_OFFSET = 6_000_000
_DEAL_SEED = "dojo-solo-bank-v1"


class SoloTask(BaseModel):
    """One solo task: its seed and the level of each dimension."""

    model_config = ConfigDict(frozen=True)

    task_id: str = Field(pattern=r"^solo-\d{3,}$")
    seed: int = Field(ge=HELD_OUT_SEED_BASE)
    ambiguity: DifficultyLevel
    domain: DifficultyLevel
    codebase: DifficultyLevel
    complexity: DifficultyLevel
    risk: DifficultyLevel

    @property
    def difficulty(self) -> float:
        """The mean of the five levels' values, in [0, 1]."""
        return round(sum(LEVELS[getattr(self, d)] for d in DIMENSIONS) / len(DIMENSIONS), 4)

    def level(self, dimension: Dimension) -> DifficultyLevel:
        level: DifficultyLevel = getattr(self, dimension)
        return level

    @cached_property
    def scenario(self) -> Scenario:
        """The hidden world of this task (seeded; the same task always builds the same one)."""
        return build_scenario(self)


def build_scenario(task: SoloTask) -> Scenario:
    """The simulator's scenario for ``task``, with the story and codebase at its levels."""
    base = generate_scenario(task.seed, task.difficulty)
    rng = random.Random(f"{task.seed}:solo-story")
    domain = rng.choice(DOMAIN_LEVELS[task.domain])
    kind = CODEBASE_LEVELS[task.codebase]
    story = _generate_story(
        rng,
        ambiguity=LEVELS[task.ambiguity],
        complexity=LEVELS[task.complexity],
        risk=LEVELS[task.risk],
        domain=domain,
        codebase_kind=kind,
    )
    codebase = generate_codebase(random.Random(f"{task.seed}:solo-codebase"), kind, domain)
    team = base.team.model_copy(update={"codebase": codebase})
    return base.model_copy(update={"story": story, "team": team})


def _deal(rng: random.Random, size: int) -> list[int]:
    """``size`` level indices, each block of three a permutation of (0, 1, 2)."""
    levels: list[int] = []
    while len(levels) < size:
        block = [0, 1, 2]
        rng.shuffle(block)
        levels.extend(block)
    return levels[:size]


def task_bank(size: int = 100) -> tuple[SoloTask, ...]:
    """The first ``size`` tasks of the bank (at least 60); prefixes are stable."""
    if size < MIN_BANK_SIZE:
        raise ValueError(f"the solo task bank holds at least {MIN_BANK_SIZE} tasks, not {size}")
    dealt = {d: _deal(random.Random(f"{_DEAL_SEED}:{d}"), size) for d in DIMENSIONS}
    return tuple(
        SoloTask(
            task_id=f"solo-{i:03d}",
            seed=HELD_OUT_SEED_BASE + SOLO_SEED_OFFSET + i,
            **{d: LEVEL_NAMES[dealt[d][i]] for d in DIMENSIONS},
        )
        for i in range(size)
    )


def select_tasks(count: int, bank_size: int = 100) -> tuple[SoloTask, ...]:
    """The first ``count`` tasks of a bank of ``bank_size`` (which grows to hold them)."""
    if count < 1:
        raise ValueError(f"an evaluation needs at least one task, not {count}")
    return task_bank(max(bank_size, count, MIN_BANK_SIZE))[:count]


def coverage(tasks: tuple[SoloTask, ...]) -> dict[str, dict[str, int]]:
    """How many tasks sit at each level of each dimension."""
    return {
        d: {level: sum(1 for t in tasks if t.level(d) == level) for level in LEVEL_NAMES}
        for d in DIMENSIONS
    }
