"""Drive AAT's ``src.rl`` and bring what it did back as Dojo's own protocol data.

:class:`AATBackend` turns a Dojo :class:`~dojo.env.protocol.EpisodeSpec` into an
AAT scenario (``ScenarioCatalog.generate``, seeded) and runs it whole through
AAT's own ``EpisodeRunner`` over its mock team (:mod:`dojo.env.aat.runner`).
Given an actor, the candidate slot is Dojo's policy: its completion requests
reach :class:`~dojo.env.aat.candidate.PolicyCandidate` through AAT's completions
endpoint (:mod:`dojo.env.aat.route`), and every answer is a
:class:`~dojo.env.aat.candidate.CandidateTurn` with its token record. Without an
actor AAT's mock plays the candidate too (a baseline; nothing to train on).
Every AAT call is async.

The result is an :class:`AATEpisode`, translated —

* episode types and behaviour codes through :mod:`dojo.env.aat.codes`;
* the candidate's decisions: the policy's turns, per phase (AAT's own traces of
  the team are kept as :class:`AATDecision` records, for counts and comparison);
* outcome signals only where AAT measured them (:mod:`dojo.env.aat.outcome`):
  AAT's synthetic velocity, coverage and planning-only completion stay on the
  record (``reward``), never as signals.

What is deliberately *not* carried over: AAT's per-decision rewards (it has
none), and its keyword detections of behaviours as metrics — they match prompt
text (SPEC §8), so they are kept, mapped, on the record for comparison only;
Dojo's scorer and judge score the decisions themselves. AAT's tracer is reset
every phase, so team decisions are gathered from each phase's result and
enriched with the end-of-episode traces where those still hold the content.
:mod:`dojo.workers.aat_rollout` turns an :class:`AATEpisode` into events.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.aat.candidate import CandidateTurn, PolicyCandidate
from dojo.env.aat.codes import AAT_EPISODE_TYPES, MappedCodes, map_codes
from dojo.env.aat.loader import load_aat
from dojo.env.aat.outcome import measured_signals
from dojo.env.aat.route import Route, install
from dojo.env.aat.runner import check_not_mock_everywhere, runner_class
from dojo.env.moves import MAX_TEXT_CHARS
from dojo.env.protocol import EpisodeOutcome, EpisodeSpec, PhaseEvent
from dojo.workers.rollout import Actor

DEFAULT_SLOT = "dev_mid_backend"
MAX_CONTEXT_CHARS = 500
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


class AATDecision(BaseModel):
    """One entry of an AAT decision trace (AAT's record: text only, no tokens)."""

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


class AATPhase(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: str
    index: int = Field(ge=0)
    duration_s: float = Field(ge=0.0)
    error: str | None = None
    decisions: tuple[AATDecision, ...] = ()
    """AAT's traces of this phase, every agent's (the candidate slot's flagged)."""
    turns: tuple[CandidateTurn, ...] = ()
    """Dojo's policy's generations as the candidate in this phase, in order."""

    def events(self) -> tuple[PhaseEvent, PhaseEvent]:
        team = sum(1 for d in self.decisions if not d.candidate)
        outcome = {
            "decisions": float(len(self.turns)),
            "team_decisions": float(team),
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
    policy_version: str | None
    """The version that played the candidate; None: AAT's mock played it."""
    phases: tuple[AATPhase, ...]
    expected: MappedCodes
    """AAT's target behaviours for this episode type, in Dojo codes."""
    detected: MappedCodes
    """AAT's keyword detections, in Dojo codes: for comparison, never a metric."""
    reward: dict[str, float] = Field(default_factory=dict)
    """AAT's reward channels and components as it reported them (synthetic: see
    :mod:`dojo.env.aat.outcome`); only :attr:`outcome` signals count."""
    outcome: EpisodeOutcome

    @property
    def summary(self) -> str:
        expected = ", ".join(self.expected.dojo) or "none"
        # not AAT's episode id: a uuid4 per run, it would make replays differ
        return (
            f"{self.spec.episode_type} via AAT {self.aat_episode_type}; "
            f"expected behaviours {expected}"
        )

    def turns(self) -> list[CandidateTurn]:
        """The policy's generations as the candidate, in order."""
        return [t for p in self.phases for t in p.turns]

    def decisions(self, *, candidate_only: bool = True) -> list[AATDecision]:
        """AAT's traced decisions (the candidate slot's only, unless told)."""
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
    turns: Sequence[CandidateTurn] = (),
    policy_version: str | None = None,
    traces: Mapping[str, Sequence[Any]] | None = None,
    reward: Any = None,
    behaviours_detected: Sequence[str] = (),
    aat_episode_id: str = "",
    finished: bool = True,
) -> AATEpisode:
    """An :class:`AATEpisode` from AAT's scenario, phase results, traces and reward, and
    the policy's ``turns`` as the candidate (each in the phase AAT was running)."""
    slot = _text(_get(scenario, "target_agent_slot"), 100) or DEFAULT_SLOT
    by_phase = _merge_decisions(phase_results, traces or {}, slot)
    names = [_text(_get(r, "phase"), 100) for r in phase_results]
    stray = sorted({t.phase for t in turns} - set(names))
    if stray:
        # AAT sets the phase on the candidate's tracer before it runs one: a turn
        # outside every phase is a defect to see, not a decision to place somewhere
        raise ValueError(f"candidate turns in phases AAT did not run: {', '.join(stray)}")
    phases = tuple(
        AATPhase(
            phase=name,
            index=i,
            duration_s=max(0.0, float(_get(r, "duration_seconds", 0.0) or 0.0)),
            error=None if _get(r, "error") is None else _text(_get(r, "error"), 1000),
            decisions=tuple(by_phase.get(name, ())),
            turns=tuple(t for t in turns if t.phase == name),
        )
        for i, (name, r) in enumerate(zip(names, phase_results, strict=True))
    )
    channels = _reward(reward)
    failed = any(p.error is not None for p in phases)
    outcome = EpisodeOutcome(
        status="completed" if finished and not failed else "truncated",
        signals=measured_signals(phase_results, channels),
        behaviour_metrics={},
        decisions=len(turns),
        # AAT has no baseline action count; its own count means "no efficiency penalty"
        baseline_actions=len(turns),
    )
    return AATEpisode(
        spec=spec,
        aat_episode_type=AAT_EPISODE_TYPES[spec.episode_type],
        aat_episode_id=aat_episode_id,
        candidate_slot=slot,
        policy_version=policy_version,
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
        self._runner = runner_class(rl)
        install(rl)

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

    async def run_episode(
        self, spec: EpisodeSpec, actor: Actor | None = None, target_slot: str = DEFAULT_SLOT
    ) -> AATEpisode:
        """One whole AAT episode, the candidate played by ``actor`` (None: AAT's mock)."""
        if actor is not None:
            check_not_mock_everywhere()
        self.workspace.mkdir(parents=True, exist_ok=True)
        scenario = self.scenario(spec, target_slot)
        candidate = PolicyCandidate(actor, spec) if actor is not None else None
        route = Route(candidate.complete) if candidate is not None else None
        # AAT writes a folder per episode and its meta-learnings: all of it goes with the episode
        with tempfile.TemporaryDirectory(prefix="episode-", dir=self.workspace) as tmp:
            try:
                runner = self._runner(
                    candidate=candidate,
                    endpoint=route.endpoint if route is not None else None,
                    team_config_dir=Path(tmp) / "team_config",
                    catalog=self.catalog,
                    workspace_root=tmp,
                )
                # AAT draws from Python's global random (who asks in refinement, who
                # pairs): seeded from the spec, the same spec plays the same episode,
                # and the process's own random stream is left as it was
                outside = random.getstate()
                random.seed(f"aat:{spec.episode_type}:{spec.seed}:{spec.difficulty}")
                try:
                    result = await runner.run_scenario(scenario)
                finally:
                    random.setstate(outside)
            finally:
                if route is not None:
                    route.close()
        return translate(
            spec,
            scenario,
            list(_get(result, "phase_results", None) or ()),
            turns=candidate.turns if candidate is not None else (),
            policy_version=candidate.version if candidate is not None else None,
            traces=_get(result, "decision_traces", None) or {},
            reward=_get(result, "reward"),
            behaviours_detected=list(_get(result, "behaviors_detected", None) or ()),
            aat_episode_id=_text(_get(result, "episode_id"), 100),
            finished=bool(_get(result, "terminated", True))
            and not _get(result, "truncated", False),
        )
