"""What every episode type shares: parsing, the step cap, time, phases, the observation.

A subclass declares its moves per phase and one ``on_<move>`` handler per move;
each handler returns an :class:`Effect` — what teammates said or what broke
(consequences, with their cost in simulated hours), the trace/outcome signals of
SPEC §3 and any phase transition. The base turns that into the protocol's
:class:`~dojo.env.protocol.StepResult`.

Consequences every episode shares:

* unparseable output or a move not offered now is an ``invalid_move``: the team
  waits (``INVALID_COST`` hours) and the decision earns no signal;
* at ``step_cap`` decisions the episode is truncated (``truncated``): the team
  moves on without the candidate, and outcomes are measured on what was done.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar

from dojo.env.moves import ArgSpec, Move, MoveSpec, parse_move
from dojo.env.protocol import (
    Consequence,
    EpisodeOutcome,
    EpisodeSpec,
    Observation,
    PhaseEvent,
    StepResult,
    Transition,
)
from dojo.env.scenario import Scenario, generate_scenario

INVALID_COST = 0.25
#: hours a call repeated with nothing new costs (see BaseEpisode.repeated_call)
REDUNDANT_CALL_HOURS = 0.1
MAX_OBSERVATION_CHARS = 8000


@dataclass(slots=True)
class Effect:
    """What one decision caused; built by a handler, consumed by the base."""

    consequences: list[Consequence] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    transition: Transition | None = None
    transition_correct: bool | None = None
    done: bool = False
    next_phase: str | None = None

    def add(self, kind: str, description: str, cost: float = 0.0) -> Effect:
        self.consequences.append(Consequence(kind=kind, description=description, cost=cost))
        return self

    def score(self, code: str, **components: float) -> Effect:
        """Record SPEC §3 components of behaviour ``code``, clamped to [0, 1]."""
        for name, value in components.items():
            self.signals[f"{code}/{name}"] = min(1.0, max(0.0, float(value)))
        return self


def move(name: str, description: str, *, text: bool = True, **args: tuple[str, ...]) -> MoveSpec:
    """A :class:`MoveSpec` in one line: ``move("ask", "...", dimension=("a", "b"))``."""
    return MoveSpec(
        name=name,
        args=tuple(ArgSpec(name=k, values=v) for k, v in args.items()),
        takes_text=text,
        description=description,
    )


def ratio(part: float, whole: float, empty: float = 1.0) -> float:
    """``part / whole`` in [0, 1]; ``empty`` when there is nothing to measure against."""
    return empty if whole <= 0 else min(1.0, max(0.0, part / whole))


def closeness(guess: str, truth: str, scale: tuple[str, ...]) -> float:
    """1 for the right level of an ordered scale, 0.5 one step off, else 0."""
    gap = abs(scale.index(guess) - scale.index(truth))
    return 1.0 if gap == 0 else 0.5 if gap == 1 else 0.0


class BaseEpisode:
    """Shared machinery of the 13 episode types (see the module docstring)."""

    episode_type: ClassVar[str]
    title: ClassVar[str]
    phases: ClassVar[tuple[str, ...]]
    step_cap: ClassVar[int]
    role: ClassVar[str] = "developer"

    def __init__(self, spec: EpisodeSpec, scenario: Scenario | None = None) -> None:
        if spec.episode_type != self.episode_type:
            raise ValueError(
                f"{type(self).__name__} runs {self.episode_type}, not {spec.episode_type}"
            )
        self.spec = spec
        self.scenario = scenario or generate_scenario(spec.seed, spec.difficulty)
        # teammates' own randomness, independent of the scenario's
        self.rng = random.Random(f"{spec.episode_type}:{spec.seed}:teammates")
        self.phase_index = 0
        self.steps = 0
        self.hours = 0.0
        self.invalid = 0
        self.known: list[str] = []
        self.inbox: list[str] = []
        self.done = False
        self.truncated = False
        self._usage: dict[int, str] = {}
        self._calls: dict[str, int] = {}
        self.setup()

    # --- for subclasses ------------------------------------------------------------

    def setup(self) -> None:
        """Build per-episode state and the move sets."""

    def moves(self) -> tuple[MoveSpec, ...]:
        raise NotImplementedError

    def brief(self) -> str:
        """The situation as the candidate reads it (no hidden truth)."""
        raise NotImplementedError

    def outcome_signals(self) -> dict[str, float]:
        raise NotImplementedError

    def behaviour_metrics(self) -> dict[str, float]:
        raise NotImplementedError

    def baseline_actions(self) -> int:
        raise NotImplementedError

    @property
    def summary(self) -> str:
        """One line for the EpisodeStarted event."""
        return f"{self.episode_type} {self.title}: {self.scenario.summary()}"

    # --- the protocol --------------------------------------------------------------

    @property
    def phase(self) -> str:
        return self.phases[self.phase_index]

    def start(self) -> tuple[Observation, tuple[PhaseEvent, ...]]:
        return self.observe(), (
            PhaseEvent(kind="started", phase=self.phase, index=self.phase_index),
        )

    def step(self, completion: str) -> StepResult:
        if self.done:
            return StepResult(
                move=Move.invalid("the episode is over", completion),
                consequences=(Consequence(kind="episode_over", description="nothing happens"),),
                done=True,
            )
        parsed = parse_move(completion, self.moves())
        self.steps += 1
        if parsed.valid:
            effect: Effect = getattr(self, f"on_{parsed.name}")(parsed)
        else:
            self.invalid += 1
            # the reason may quote the raw output: keep the observation ASCII
            reason = (parsed.error or "").encode("ascii", "replace").decode("ascii")
            effect = Effect().add(
                "invalid_move", f"not understood ({reason}); the team waited", INVALID_COST
            )
        events: list[PhaseEvent] = []
        if effect.next_phase is not None and not effect.done:
            events.append(self._phase_completed())
            self.phase_index = self.phases.index(effect.next_phase)
            events.append(PhaseEvent(kind="started", phase=self.phase, index=self.phase_index))
        if not effect.done and self.steps >= self.step_cap:
            effect.done = True
            self.truncated = True
            effect.add("truncated", "step limit reached; the team moved on without you")
        for c in effect.consequences:
            self.hours += c.cost
            self.inbox.append(c.description)
        if effect.done:
            self.done = True
            events.append(self._phase_completed())
        return StepResult(
            move=parsed,
            consequences=tuple(effect.consequences),
            signals=effect.signals,
            transition=effect.transition,
            transition_correct=effect.transition_correct,
            phase_events=tuple(events),
            done=effect.done,
            observation=None if effect.done else self.observe(),
        )

    def outcome(self) -> EpisodeOutcome:
        """Measured against the hidden truth; before the end it counts as truncated."""
        return EpisodeOutcome(
            status="completed" if self.done and not self.truncated else "truncated",
            signals=self.outcome_signals(),
            behaviour_metrics=self.behaviour_metrics(),
            decisions=self.steps,
            baseline_actions=self.baseline_actions(),
        )

    # --- helpers -------------------------------------------------------------------

    def learn(self, fact: str) -> None:
        if fact not in self.known:
            self.known.append(fact)

    def repeated_call(self, call: str, evidence: int, kind: str, text: str) -> Effect | None:
        """A call scored against the hidden truth (a diagnosis, a choice), made again
        with no new evidence since its last: ``kind``, a little time and no score. None:
        the call is news and is recorded at this much ``evidence``.

        Without it a policy collects the right answer's score by enumeration, making
        every possible call in turn; ``evidence`` counts what could change a mind (the
        looks taken, the proposals and comparisons made).
        """
        if self._calls.get(call) == evidence:
            return Effect().add(kind, text, REDUNDANT_CALL_HOURS)
        self._calls[call] = evidence
        return None

    def _phase_completed(self) -> PhaseEvent:
        return PhaseEvent(
            kind="completed",
            phase=self.phase,
            index=self.phase_index,
            outcome={"decisions": float(self.steps), "hours": round(self.hours, 4)},
        )

    def _usage_lines(self, moves: tuple[MoveSpec, ...]) -> str:
        # move tuples are built once per episode, so their id is a stable cache key
        key = id(moves)
        lines = self._usage.get(key)
        if lines is None:
            lines = "\n".join(f"- {m.usage()}" for m in moves)
            self._usage[key] = lines
        return lines

    def observe(self) -> Observation:
        moves = self.moves()
        team = self.scenario.team
        known = "\n".join(f"- {k}" for k in self.known) if self.known else "- nothing yet"
        messages = "\n".join(f"- {m}" for m in self.inbox) if self.inbox else "- none"
        text = (
            f"You are a {self.role} on team {team.name}. Episode {self.episode_type}: {self.title}.\n"
            f"Phase: {self.phase}. Decision {self.steps + 1} of at most {self.step_cap}. "
            f"Time used: {self.hours:.2f} h.\n"
            f"Situation: {self.brief()}\n"
            f"Known so far:\n{known}\n"
            f"Messages:\n{messages}\n"
            f"Moves (answer with exactly one line: name arg=value | text):\n"
            f"{self._usage_lines(moves)}"
        )
        if len(text) > MAX_OBSERVATION_CHARS:
            text = text[: MAX_OBSERVATION_CHARS - 3] + "..."
        obs = Observation(
            text=text,
            phase=self.phase,
            step=self.steps,
            role=self.role,
            moves=moves,
            episode_type=self.episode_type,
            known=tuple(self.known),
            messages=tuple(self.inbox),
        )
        self.inbox = []
        return obs
