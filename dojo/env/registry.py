"""The episode-type registry: one record per type, the one place a type is declared.

Every part of Dojo that needs to know what an episode type is reads it here —
:func:`dojo.env.make_episode` (the class), the scripted reference policies (the
playbook), the gym envs and the curriculum's director (the stage, the director
actions that deal it), the curriculum and the evaluation (the metrics it measures,
and which of them read per-decision signals), the AAT adapter (AAT's name for it).
The older names (``EPISODE_TYPES``, ``EPISODE_CLASSES``, ``PLAYBOOKS``,
``DIRECTED``, ``AAT_EPISODE_TYPES``) are read from here.

SPEC §4's 13 types are registered at the bottom; :func:`register` adds one from
outside, :func:`unregister` takes it away again (docs/extending.md).

Classes and playbooks may be named by import path (``"module:Class"``, as
gymnasium's entry points; ``"module"`` for a playbook) and are imported when first
asked for: this module imports nothing from Dojo, so the lowest layer
(:mod:`dojo.env.protocol`) can read it without an import cycle.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from dojo.env.episodes.base import BaseEpisode

#: the episode-type code every event schema and judge request accepts (E-<stage>.<n>)
CODE_PATTERN = r"^E-[1-4]\.[1-5]$"
_BEHAVIOUR = re.compile(r"^B-(0[1-9]|[12][0-9]|30)$")
#: SPEC §7's Discrete(6) director actions
DIRECTOR_ACTIONS = range(6)


@dataclass(frozen=True)
class EpisodeType:
    """Everything Dojo knows about one episode type."""

    code: str
    title: str
    stage: int
    episode: type[BaseEpisode] | str
    """The episode class, or its import path ``"module:Class"``."""
    playbook: Any
    """The scripted ``senior`` and ``junior`` play (:mod:`dojo.env.reference`): any
    object with those two functions (a module, usually), or a module's import path."""
    behaviours: tuple[str, ...]
    """The B-codes its decisions and outcome measure (SPEC §2)."""
    director: tuple[int, ...] = ()
    """The director actions (SPEC §7) that deal it; none: dealt only when named."""
    metrics: tuple[str, ...] = ()
    """The curriculum and evaluation metrics one training episode of it measures
    (:func:`dojo.curriculum.episode_measurements`; velocity, which every type of
    stages 1, 2 and 4 reports, is the stage's and not listed)."""
    decision_metrics: tuple[str, ...] = ()
    """Those of :attr:`metrics` read from its decisions' signals, not only its outcome."""
    aat_name: str | None = None
    """AAT's name for it (:mod:`dojo.env.aat`); None: AAT cannot play it."""

    def __post_init__(self) -> None:
        problems = []
        if not re.match(CODE_PATTERN, self.code):
            problems.append(f"code must match {CODE_PATTERN}")
        elif self.stage != int(self.code[2]):
            # events, the store and the docs read E-2.x as a stage-2 type
            problems.append(f"stage must be the code's family, {self.code[2]}")
        if not self.title:
            problems.append("title must not be empty")
        if not self.behaviours or not all(_BEHAVIOUR.match(b) for b in self.behaviours):
            problems.append("behaviours must be one or more of B-01 … B-30")
        if not set(self.director) <= set(DIRECTOR_ACTIONS):
            problems.append("director actions must be within 0 … 5")
        if not set(self.decision_metrics) <= set(self.metrics):
            problems.append("decision_metrics must be among metrics")
        if not isinstance(self.episode, str) and self.episode.episode_type != self.code:
            problems.append(f"{self.episode.__name__} runs {self.episode.episode_type}")
        if not isinstance(self.playbook, str) and not all(
            callable(getattr(self.playbook, name, None)) for name in ("senior", "junior")
        ):
            problems.append("playbook must have senior and junior functions")
        if problems:
            raise ValueError(f"episode type {self.code!r}: " + "; ".join(problems))

    @property
    def episode_class(self) -> type[BaseEpisode]:
        if isinstance(self.episode, str):
            module, _, name = self.episode.partition(":")
            cls: type[BaseEpisode] = getattr(importlib.import_module(module), name)
            return cls
        return self.episode

    @property
    def plays(self) -> Any:
        """The playbook object (imported when named by path)."""
        if isinstance(self.playbook, str):
            return importlib.import_module(self.playbook)
        return self.playbook


_TYPES: dict[str, EpisodeType] = {}


def register(
    code: str,
    *,
    title: str,
    stage: int,
    episode: type[BaseEpisode] | str,
    playbook: Any,
    behaviours: tuple[str, ...],
    director: tuple[int, ...] = (),
    metrics: tuple[str, ...] = (),
    decision_metrics: tuple[str, ...] = (),
    aat_name: str | None = None,
) -> EpisodeType:
    """Add an episode type (fields as :class:`EpisodeType`); a code already taken raises."""
    if code in _TYPES:
        raise ValueError(f"episode type {code!r} is already registered")
    record = EpisodeType(
        code=code,
        title=title,
        stage=stage,
        episode=episode,
        playbook=playbook,
        behaviours=behaviours,
        director=director,
        metrics=metrics,
        decision_metrics=decision_metrics,
        aat_name=aat_name,
    )
    _TYPES[code] = record
    return record


def unregister(code: str) -> None:
    """Remove a type added by :func:`register`; the built-in ones stay (events name them)."""
    if code in BUILT_IN:
        raise ValueError(f"{code} is one of Dojo's built-in episode types")
    _TYPES.pop(code, None)


def types() -> tuple[EpisodeType, ...]:
    """Every registered type, in registration order (the built-in ones first)."""
    return tuple(_TYPES.values())


def codes(stage: int | None = None) -> tuple[str, ...]:
    """The registered codes (of curriculum ``stage`` only, when given)."""
    return tuple(t.code for t in _TYPES.values() if stage is None or t.stage == stage)


def find(code: str) -> EpisodeType | None:
    return _TYPES.get(code)


def get(code: str) -> EpisodeType:
    record = _TYPES.get(code)
    if record is None:
        raise KeyError(f"unknown episode type {code!r}; known: {', '.join(_TYPES)}")
    return record


def directed() -> dict[int, tuple[str, ...]]:
    """Director action -> the types it deals, in registration order."""
    return {
        action: offered
        for action in DIRECTOR_ACTIONS
        if (offered := tuple(t.code for t in _TYPES.values() if action in t.director))
    }


def reading_decisions(metrics: Collection[str] | None = None) -> frozenset[str]:
    """The types whose measurement of any of ``metrics`` (None: any metric at all)
    reads their decisions' signals, which a reader must then fetch too."""
    return frozenset(
        t.code
        for t in _TYPES.values()
        if any(metrics is None or m in metrics for m in t.decision_metrics)
    )


K = TypeVar("K")
V = TypeVar("V")


class LiveTable(Mapping[K, V]):
    """A read-only table rebuilt from the registry at every read, so that a type
    registered after the table was imported is in it (the old module-level dicts)."""

    def __init__(self, build: Callable[[], Mapping[K, V]]) -> None:
        self._build = build

    def __getitem__(self, key: K) -> V:
        return self._build()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"LiveTable({dict(self._build())!r})"


def column(read: Callable[[EpisodeType], V | None]) -> LiveTable[str, V]:
    """Code -> one field of each type, leaving out the types where it is None."""
    return LiveTable(
        lambda: {t.code: value for t in _TYPES.values() if (value := read(t)) is not None}
    )


# --- SPEC §4's catalogue ---------------------------------------------------------------
# Behaviours: SPEC §4's, and those the simulator measures besides (B-25 plan precision
# in E-1.2, B-30 stated confidence in E-1.5, B-21 status updates wherever something
# broke); tests/env/test_registry.py checks them against what the episodes emit.

_STABLE = (0, 5)  # the team works in peace, or in a tighter sprint: stage-1 work


def _built_in(code: str, module: str, cls: str, **fields: Any) -> None:
    register(
        code,
        stage=int(code[2]),
        episode=f"dojo.env.episodes.{module}:{cls}",
        playbook=f"dojo.env.playbooks.{module}",
        **fields,
    )


# a record per paragraph reads better than one argument per line
# fmt: off
_built_in(
    "E-1.1", "elicitation", "ElicitationEpisode", title="Elicitation",
    behaviours=("B-01", "B-02", "B-03", "B-04"), director=_STABLE,
    metrics=("elicitation_quality", "sufficiency_error"), aat_name="elicitation",
)
_built_in(
    "E-1.2", "decomposition", "DecompositionEpisode", title="Decomposition",
    behaviours=("B-05", "B-06", "B-07", "B-08", "B-25"), director=_STABLE,
    metrics=("decomposition_accuracy",), aat_name="decomposition",
)
_built_in(
    "E-1.3", "implementation", "ImplementationEpisode", title="Implementation",
    behaviours=("B-09", "B-10", "B-11", "B-25", "B-26"), director=_STABLE,
    metrics=("self_correction_rate", "intent_match"), decision_metrics=("intent_match",),
    aat_name="implementation",
)
_built_in(
    "E-1.4", "self_monitoring", "SelfMonitoringEpisode", title="Self-monitoring",
    behaviours=("B-09", "B-10", "B-12", "B-30"), director=_STABLE,
    metrics=("self_correction_rate",), aat_name="self_monitoring",
)
_built_in(
    "E-1.5", "research", "ResearchEpisode", title="Research",
    behaviours=("B-04", "B-16", "B-17", "B-30"), director=_STABLE,
    metrics=("research_effectiveness",), aat_name="research",
)
_built_in(
    "E-2.1", "triage", "TriageEpisode", title="Triage",
    behaviours=("B-13", "B-14", "B-21"), director=(1,),  # a disturbance hits: triage it
    metrics=("triage_accuracy",), aat_name="triage",
)
_built_in(
    "E-2.2", "recovery", "RecoveryEpisode", title="Recovery",
    behaviours=("B-10", "B-11", "B-14", "B-15", "B-21"), director=(1,),  # or recover from it
    aat_name="recovery",
)
_built_in(
    "E-2.3", "scope_change", "ScopeChangeEpisode", title="Scope change",
    behaviours=("B-02", "B-13", "B-14", "B-21", "B-25"),
    director=(3,),  # the product owner changes the backlog
    metrics=("adaptation_quality",), decision_metrics=("adaptation_quality",),
    aat_name="scope_change",
)
_built_in(
    "E-3.1", "borrowing", "BorrowingEpisode", title="Borrowing arrival",
    behaviours=("B-18", "B-19", "B-20", "B-22"), director=(2,),  # lent to another team
    metrics=("actions_to_productive", "orientation"),
    decision_metrics=("actions_to_productive",), aat_name="borrowing_arrival",
)
_built_in(
    "E-3.2", "cross_team", "CrossTeamEpisode", title="Cross-team dependency",
    behaviours=("B-03", "B-06", "B-21"), director=(2,),  # or depending on one
    aat_name="cross_team_dependency",
)
_built_in(
    "E-4.1", "handoff", "HandoffEpisode", title="Knowledge handoff",
    behaviours=("B-23", "B-24"), director=(4,),  # someone leaves
    aat_name="knowledge_handoff",
)
_built_in(
    "E-4.2", "onboarding", "OnboardingEpisode", title="Onboarding support",
    behaviours=("B-07", "B-20", "B-22"), director=(4,),  # or joins
    aat_name="onboarding_support",
)
_built_in(
    "E-4.3", "compensation", "CompensationEpisode", title="Compensation",
    behaviours=("B-10", "B-12", "B-13", "B-14", "B-21"), director=(4,),  # someone left
    aat_name="compensation",
)
# fmt: on

#: the types Dojo ships (SPEC §4's 13), which :func:`unregister` leaves alone
BUILT_IN: tuple[str, ...] = codes()
