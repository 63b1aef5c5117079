"""The contract between an episode of the simulated team and whoever drives it.

An environment worker (and the gymnasium text env) drives an :class:`Episode`:
``start()`` once, then ``step(completion)`` with the candidate's raw output until
``done``, then ``outcome()``. Everything here is plain data (pydantic), so it can
travel inside events unchanged.

Signal naming, shared with reward attribution:

* per-decision ``StepResult.signals`` are trace (T) and outcome (O) components of
  SPEC §3, keyed ``"<B-code>/<component>"`` (e.g. ``"B-01/non_redundancy"``), each
  in [0, 1]; penalties are reported as their own component (1 = full penalty).
  Judge (J) components never come from the simulator.
* ``EpisodeOutcome.signals`` are the outcome signal's parts of SPEC §3:
  ``story_accepted``, ``tests_passing``, ``low_iteration_count``, ``velocity``,
  ``low_rework``, ``coverage``, each in [0, 1].
* ``EpisodeOutcome.behaviour_metrics`` are the measurable proxies of SPEC §2 per
  B-code (e.g. ``"B-04"`` = |asked − optimal| / optimal). A behaviour the
  episode did not exercise is absent, never zero-filled.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.moves import Move, MoveSpec
from dojo.env.registry import BUILT_IN, CODE_PATTERN

#: the episode types Dojo ships (SPEC §4), as :mod:`dojo.env.registry` declares them;
#: a type added with ``register`` is in ``registry.codes()``, not here
EPISODE_TYPES: tuple[str, ...] = BUILT_IN

Transition = Literal["elicit_to_plan", "plan_to_execute", "continue", "pivot", "escalate"]

#: Seeds below this are for training; those at or above it are held out for
#: evaluation, so no evaluated scenario was ever trained on.
HELD_OUT_SEED_BASE = 1 << 30


class EpisodeSpec(BaseModel):
    """What to simulate: the episode type, its seed and difficulty, the curriculum stage."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    episode_type: str = Field(pattern=CODE_PATTERN)
    seed: int = Field(ge=0)
    difficulty: float = Field(default=0.5, ge=0.0, le=1.0)
    stage: int = Field(default=1, ge=1, le=4)


class Observation(BaseModel):
    """What the candidate sees at a decision point.

    ``text`` is the whole prompt. ``known`` and ``messages`` are the same facts
    the text shows under "Known so far" and "Messages", as lines, so a scripted
    policy or a gym wrapper need not parse the text; they never hold anything
    the text does not.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    phase: str
    step: int = Field(ge=0)
    role: str = "developer"
    moves: tuple[MoveSpec, ...]
    episode_type: str = ""
    known: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


class PhaseEvent(BaseModel):
    """A phase of the episode started or completed."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["started", "completed"]
    phase: str
    index: int = Field(ge=0)
    outcome: dict[str, float] = Field(default_factory=dict)


class Consequence(BaseModel):
    """An observable effect of a decision: what a teammate said, what broke, what it cost."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    kind: str
    description: str
    cost: float = Field(default=0.0, description="simulated time spent, in hours")


class StepResult(BaseModel):
    """The result of one candidate decision."""

    model_config = ConfigDict(frozen=True)

    move: Move
    consequences: tuple[Consequence, ...] = ()
    signals: dict[str, float] = Field(default_factory=dict)
    transition: Transition | None = None
    transition_correct: bool | None = None
    phase_events: tuple[PhaseEvent, ...] = ()
    done: bool = False
    observation: Observation | None = None


class EpisodeOutcome(BaseModel):
    """How the episode ended, measured against its hidden truth."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    status: Literal["completed", "truncated"]
    signals: dict[str, float] = Field(default_factory=dict)
    behaviour_metrics: dict[str, float] = Field(default_factory=dict)
    decisions: int = Field(ge=0)
    baseline_actions: int = Field(ge=0)


@runtime_checkable
class Episode(Protocol):
    """One running episode. Implementations are seeded and pure: no I/O."""

    spec: EpisodeSpec

    def start(self) -> tuple[Observation, tuple[PhaseEvent, ...]]: ...

    def step(self, completion: str) -> StepResult: ...

    def outcome(self) -> EpisodeOutcome: ...
