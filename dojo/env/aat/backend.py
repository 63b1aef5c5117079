"""Drive AAT's ``src.rl`` and bring what it did back as Dojo's own protocol data.

:class:`AATBackend` turns a Dojo :class:`~dojo.env.protocol.EpisodeSpec` into an
AAT scenario (``ScenarioCatalog.generate``, seeded) and runs it, either whole
(``EpisodeRunner.run_scenario``, which runs each phase through a
``PhaseRunner`` over AAT's own mock team) or phase by phase through a
``PhaseRunner`` over a sprint manager the caller built. Every AAT call is async.

The result is an :class:`AATEpisode`: the decision traces, phases and reward
channels, translated —

* episode types and behaviour codes through :mod:`dojo.env.aat.codes`;
* each decision of the candidate's slot into a :class:`~dojo.env.protocol.StepResult`
  whose move is ``aat_<action_type>`` with AAT's action content as its text, and
  whose only consequence is AAT's recorded outcome (kind ``aat_outcome``);
* AAT's sprint reward components into the outcome signals they measure
  (``velocity_ratio`` → velocity, ``coverage_score`` → coverage,
  ``completion_rate`` → story accepted). Signals AAT does not measure are absent.

What is deliberately *not* carried over: AAT's per-decision rewards (it has
none), and its keyword detections of behaviours as metrics — they match prompt
text (SPEC §8), so they are kept, mapped, on the record for comparison only;
Dojo's scorer and judge score the decisions themselves. AAT's tracer is reset
every phase, so decisions are gathered from each phase's result and enriched
with the end-of-episode traces where those still hold the content.
:mod:`dojo.workers.aat_rollout` turns an :class:`AATEpisode` into events.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.aat.codes import AAT_EPISODE_TYPES, MappedCodes, map_codes
from dojo.env.aat.loader import load_aat
from dojo.env.moves import MAX_TEXT_CHARS, Move
from dojo.env.protocol import Consequence, EpisodeOutcome, EpisodeSpec, PhaseEvent, StepResult

DEFAULT_SLOT = "dev_mid_backend"
MAX_CONTEXT_CHARS = 500
# AAT sprint reward component -> the Dojo outcome signal it measures
OUTCOME_SIGNALS: dict[str, str] = {
    "velocity_ratio": "velocity",
    "coverage_score": "coverage",
    "completion_rate": "story_accepted",
}
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


class AATDecision(BaseModel):
    """One entry of an AAT decision trace."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    agent_id: str
    phase: str
    action_type: str
    context: str = Field(default="", max_length=MAX_CONTEXT_CHARS)
    action_content: str = Field(default="", max_length=MAX_TEXT_CHARS)
    outcome: str | None = None
    timestamp: str = ""
    candidate: bool = False

    def as_step(self) -> StepResult:
        """This decision in Dojo's protocol: a move, its consequences, no signals."""
        name = "aat_" + (_NOT_NAME.sub("_", self.action_type.lower()).strip("_") or "action")
        consequences: tuple[Consequence, ...] = ()
        if self.outcome:
            consequences = (Consequence(kind="aat_outcome", description=self.outcome[:1000]),)
        return StepResult(move=Move(name=name, text=self.action_content), consequences=consequences)


class AATPhase(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: str
    index: int = Field(ge=0)
    duration_s: float = Field(ge=0.0)
    error: str | None = None
    decisions: tuple[AATDecision, ...] = ()

    def events(self, *, candidate_only: bool = True) -> tuple[PhaseEvent, PhaseEvent]:
        mine = [d for d in self.decisions if d.candidate]
        outcome = {
            "decisions": float(len(mine) if candidate_only else len(self.decisions)),
            "team_decisions": float(len(self.decisions) - len(mine)),
            "failed": float(self.error is not None),
        }
        return (
            PhaseEvent(kind="started", phase=self.phase, index=self.index),
            PhaseEvent(kind="completed", phase=self.phase, index=self.index, outcome=outcome),
        )


class AATEpisode(BaseModel):
    """An AAT episode, translated (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    spec: EpisodeSpec
    aat_episode_type: str
    aat_episode_id: str
    candidate_slot: str
    phases: tuple[AATPhase, ...]
    expected: MappedCodes
    """AAT's target behaviours for this episode type, in Dojo codes."""
    detected: MappedCodes
    """AAT's keyword detections, in Dojo codes: for comparison, never a metric."""
    reward: dict[str, float] = Field(default_factory=dict)
    """AAT's reward channels and components as it reported them."""
    outcome: EpisodeOutcome

    @property
    def summary(self) -> str:
        expected = ", ".join(self.expected.dojo) or "none"
        return (
            f"{self.spec.episode_type} via AAT {self.aat_episode_type} "
            f"({self.aat_episode_id}); expected behaviours {expected}"
        )

    def decisions(self, *, candidate_only: bool = True) -> list[AATDecision]:
        return [d for p in self.phases for d in p.decisions if d.candidate or not candidate_only]


# --- reading AAT's objects (dataclasses and dicts; read defensively) ----------------


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _decision(raw: Any, candidate_slot: str, agent: str = "") -> AATDecision:
    agent = _text(_get(raw, "agent_id"), 200) or agent
    decision_id = _text(_get(raw, "decision_id"), 200)
    if not agent:
        # AAT ids read {agent}-s{NN}-{phase}-{seq}
        agent = decision_id.split("-s", 1)[0]
    outcome = _get(raw, "outcome")
    return AATDecision(
        decision_id=decision_id,
        agent_id=agent,
        phase=_text(_get(raw, "phase"), 100),
        action_type=_text(_get(raw, "action_type"), 100) or "action",
        context=_text(_get(raw, "context"), MAX_CONTEXT_CHARS),
        action_content=_text(_get(raw, "action_content"), MAX_TEXT_CHARS),
        outcome=None if outcome in (None, "", {}) else _text(outcome, 1000),
        timestamp=_text(_get(raw, "timestamp"), 64),
        candidate=agent == candidate_slot,
    )


def _merge_decisions(
    phase_results: Sequence[Any],
    traces: Mapping[str, Sequence[Any]],
    candidate_slot: str,
) -> dict[str, list[AATDecision]]:
    """Decisions per phase name, in AAT's order, each with the richest record found."""
    full = {}
    for agent, agent_decisions in traces.items():
        for raw in agent_decisions:
            d = _decision(raw, candidate_slot, agent)
            full[d.decision_id] = d
    by_phase: dict[str, list[AATDecision]] = {}
    seen: set[str] = set()
    for result in phase_results:
        phase = _text(_get(result, "phase"), 100)
        for raw in _get(result, "decisions", None) or ():
            d = _decision(raw, candidate_slot)
            d = full.get(d.decision_id, d)
            if d.decision_id not in seen:
                seen.add(d.decision_id)
                by_phase.setdefault(phase, []).append(d)
    # traces of a phase whose result listed nothing (the tracer kept more than the result)
    for d in full.values():
        if d.decision_id not in seen:
            seen.add(d.decision_id)
            by_phase.setdefault(d.phase, []).append(d)
    return by_phase


def _reward(signal: Any) -> dict[str, float]:
    if signal is None:
        return {}
    channels = {
        k: float(_get(signal, k))
        for k in ("outcome", "efficiency", "phase_completion", "behavioral", "total")
        if isinstance(_get(signal, k), int | float)
    }
    components = _get(signal, "components", None) or {}
    channels.update({k: float(v) for k, v in components.items() if isinstance(v, int | float)})
    return channels


def translate(
    spec: EpisodeSpec,
    scenario: Any,
    phase_results: Sequence[Any],
    *,
    traces: Mapping[str, Sequence[Any]] | None = None,
    reward: Any = None,
    behaviours_detected: Sequence[str] = (),
    aat_episode_id: str = "",
    finished: bool = True,
) -> AATEpisode:
    """An :class:`AATEpisode` from AAT's scenario, phase results, traces and reward."""
    slot = _text(_get(scenario, "target_agent_slot"), 100) or DEFAULT_SLOT
    by_phase = _merge_decisions(phase_results, traces or {}, slot)
    phases = tuple(
        AATPhase(
            phase=_text(_get(r, "phase"), 100),
            index=i,
            duration_s=max(0.0, float(_get(r, "duration_seconds", 0.0) or 0.0)),
            error=None if _get(r, "error") is None else _text(_get(r, "error"), 1000),
            decisions=tuple(by_phase.get(_text(_get(r, "phase"), 100), ())),
        )
        for i, r in enumerate(phase_results)
    )
    channels = _reward(reward)
    signals = {
        dojo: min(1.0, max(0.0, channels[aat]))
        for aat, dojo in OUTCOME_SIGNALS.items()
        if aat in channels
    }
    mine = sum(1 for p in phases for d in p.decisions if d.candidate)
    failed = any(p.error is not None for p in phases)
    outcome = EpisodeOutcome(
        status="completed" if finished and not failed else "truncated",
        signals=signals,
        behaviour_metrics={},
        decisions=mine,
        # AAT has no baseline action count; its own count means "no efficiency penalty"
        baseline_actions=mine,
    )
    return AATEpisode(
        spec=spec,
        aat_episode_type=AAT_EPISODE_TYPES[spec.episode_type],
        aat_episode_id=aat_episode_id,
        candidate_slot=slot,
        phases=phases,
        expected=map_codes(list(_get(scenario, "expected_behaviors", None) or ())),
        detected=map_codes(list(behaviours_detected)),
        reward=channels,
        outcome=outcome,
    )


class AATBackend:
    """AAT behind Dojo's episode specs. Build with :meth:`load` or from a loaded module."""

    def __init__(self, rl: ModuleType, *, workspace: Path, backlog_path: str | None = None) -> None:
        self.rl = rl
        self.workspace = workspace
        self.catalog = rl.ScenarioCatalog(backlog_path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        workspace: Path,
        backlog_path: str | None = None,
    ) -> AATBackend:
        """Import AAT from ``path`` (raises :class:`~dojo.env.aat.loader.AATUnavailable`)."""
        return cls(load_aat(path), workspace=workspace, backlog_path=backlog_path)

    def scenario(self, spec: EpisodeSpec, target_slot: str = DEFAULT_SLOT) -> Any:
        """AAT's seeded scenario for ``spec``."""
        return self.catalog.generate(
            AAT_EPISODE_TYPES[spec.episode_type],
            difficulty=spec.difficulty,
            target_slot=target_slot,
            seed=spec.seed,
        )

    async def run_episode(self, spec: EpisodeSpec, target_slot: str = DEFAULT_SLOT) -> AATEpisode:
        """One whole AAT episode over its own mock team, translated."""
        self.workspace.mkdir(parents=True, exist_ok=True)
        scenario = self.scenario(spec, target_slot)
        runner = self.rl.EpisodeRunner(catalog=self.catalog, workspace_root=str(self.workspace))
        result = await runner.run_scenario(scenario)
        return translate(
            spec,
            scenario,
            list(_get(result, "phase_results", None) or ()),
            traces=_get(result, "decision_traces", None) or {},
            reward=_get(result, "reward"),
            behaviours_detected=list(_get(result, "behaviors_detected", None) or ()),
            aat_episode_id=_text(_get(result, "episode_id"), 100),
            finished=bool(_get(result, "terminated", True))
            and not _get(result, "truncated", False),
        )

    async def run_phases(
        self,
        spec: EpisodeSpec,
        sprint_manager: Any,
        *,
        sprint_num: int = 1,
        target_slot: str = DEFAULT_SLOT,
    ) -> AATEpisode:
        """The scenario's phases one by one through a ``PhaseRunner`` over ``sprint_manager``.

        Stops at the first phase that fails, as AAT's own runner does. Reads the
        agents' tracers after every phase, so no phase loses its decision content.
        There is no sprint reward on this path, so the outcome carries no signals.
        """
        scenario = self.scenario(spec, target_slot)
        runner = self.rl.PhaseRunner(sprint_manager)
        results = []
        traces: dict[str, list[Any]] = {}
        for phase in _get(scenario, "phases", None) or ():
            result = await runner.run_phase(phase, sprint_num)
            results.append(result)
            # AAT resets each agent's tracer every phase: read it before the next one
            for agent in getattr(sprint_manager, "agents", ()):
                tracer = getattr(agent, "_tracer", None)
                if tracer is not None:
                    key = str(getattr(agent, "agent_id", ""))
                    traces.setdefault(key, []).extend(getattr(tracer, "decisions", ()))
            if _get(result, "error") is not None:
                break
        return translate(spec, scenario, results, traces=traces)
