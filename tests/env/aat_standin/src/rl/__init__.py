"""Stand-in for AAT's public ``src.rl`` API, as documented in SPEC §8.

Every documented name exists; the ones Dojo's adapter calls behave like the
documented contract (async episode and phase calls, dataclass results, decision
trace records with ``{agent}-s{NN}-{phase}-{seq}`` ids, a tracer reset every
phase, reward channels with components, AAT's own B-codes). The rest are inert
placeholders. Deterministic: the episode id derives from the seed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from src.team import SprintManager

PHASES = ["planning", "development", "qa_review", "retro", "meta_learning"]


def _type(stage: int, phases: list[str], behaviours: list[str]) -> dict[str, Any]:
    return {"stage": stage, "phases": phases, "target_behaviors": behaviours}


EPISODE_TYPES: dict[str, dict[str, Any]] = {
    "elicitation": _type(1, ["planning"], ["B-01", "B-02", "B-03"]),
    "decomposition": _type(1, ["planning"], ["B-04", "B-05", "B-06"]),
    "implementation": _type(1, ["development"], ["B-07", "B-08", "B-09"]),
    "self_monitoring": _type(1, ["development", "qa_review"], ["B-10", "B-11"]),
    "research": _type(2, ["planning", "development"], ["B-12", "B-13", "B-14"]),
    "triage": _type(2, ["planning", "development"], ["B-15", "B-16"]),
    "recovery": _type(2, ["development", "qa_review"], ["B-17", "B-18", "B-19"]),
    "scope_change": _type(2, ["planning", "development"], ["B-20", "B-21"]),
    "borrowing_arrival": _type(3, ["planning", "development", "retro"], ["B-22", "B-23"]),
    "cross_team_dependency": _type(3, ["planning", "development"], ["B-24", "B-25"]),
    "knowledge_handoff": _type(3, ["development", "retro", "meta_learning"], ["B-26", "B-27"]),
    "onboarding_support": _type(4, ["planning", "development", "retro"], ["B-28", "B-29"]),
    "compensation": _type(4, ["planning", "development", "qa_review", "retro"], ["B-30"]),
}


@dataclass(frozen=True)
class BehavioralCode:
    code: str
    name: str
    description: str
    stage: int
    category: str
    detection_heuristic: str


_NAMES = [
    "ask_clarifying_question",
    "identify_missing_acceptance_criteria",
    "propose_story_split",
    "estimate_story_points",
    "identify_technical_dependencies",
    "create_subtasks",
    "write_test_first",
    "follow_coding_conventions",
    "commit_incrementally",
    "run_tests_before_commit",
    "request_review_at_checkpoint",
    "search_for_prior_art",
    "prototype_before_commit",
    "document_spike_findings",
    "prioritize_by_severity",
    "communicate_impact_assessment",
    "diagnose_root_cause",
    "apply_minimal_fix",
    "add_regression_test",
    "renegotiate_scope",
    "update_backlog_priority",
    "read_team_conventions",
    "introduce_self_at_standup",
    "declare_dependency",
    "negotiate_interface_contract",
    "write_handoff_document",
    "pair_with_successor",
    "mentor_new_member",
    "share_tacit_knowledge",
    "cover_departed_role",
]
BEHAVIORAL_CODES: dict[str, BehavioralCode] = {
    f"B-{i:02d}": BehavioralCode(f"B-{i:02d}", name, name.replace("_", " "), 1, "", "")
    for i, name in enumerate(_NAMES, start=1)
}


class BehavioralScorer:
    """Keyword matching over action content, like AAT's (the defect Dojo avoids)."""

    def score(
        self, decisions: list[dict[str, Any]], expected_behaviors: list[str]
    ) -> tuple[float, list[str]]:
        text = " ".join(str(d.get("action_content", "")) for d in decisions).lower()
        found = [c for c in expected_behaviors if BEHAVIORAL_CODES[c].name.split("_")[0] in text]
        return (len(found) / len(expected_behaviors) if expected_behaviors else 1.0), found


@dataclass
class ScenarioConfig:
    episode_type: str
    stage: int
    difficulty: float
    target_agent_slot: str
    backlog_stories: list[dict[str, Any]] = field(default_factory=list)
    disturbance_overrides: dict[str, Any] = field(default_factory=dict)
    agent_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected_behaviors: list[str] = field(default_factory=list)
    duration_minutes: int = 10
    phases: list[str] = field(default_factory=list)
    seed: int | None = None


class ScenarioCatalog:
    def __init__(self, backlog_path: str | None = None) -> None:
        self.backlog_path = backlog_path

    def list_episode_types(self, stage: int | None = None) -> list[str]:
        return sorted(n for n, t in EPISODE_TYPES.items() if stage in (None, t["stage"]))

    def generate(
        self,
        episode_type: str,
        difficulty: float = 0.5,
        target_slot: str = "dev_mid_backend",
        seed: int | None = None,
    ) -> ScenarioConfig:
        if episode_type not in EPISODE_TYPES:
            raise ValueError(f"Unknown episode type: {episode_type!r}")
        info = EPISODE_TYPES[episode_type]
        rng = random.Random(seed)
        stories = [
            {"id": f"S-{i}", "story_points": rng.randint(1, 8)}
            for i in range(1 + int(difficulty * 3))
        ]
        return ScenarioConfig(
            episode_type=episode_type,
            stage=info["stage"],
            difficulty=difficulty,
            target_agent_slot=target_slot,
            backlog_stories=stories,
            agent_overrides={target_slot: {"is_training_candidate": True}},
            expected_behaviors=list(info["target_behaviors"]),
            phases=list(info["phases"]),
            seed=seed,
        )


@dataclass
class PhaseResult:
    phase: str
    sprint_num: int
    duration_seconds: float
    decisions: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    kanban_snapshot: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class PhaseRunner:
    PHASES = PHASES

    def __init__(self, sprint_manager: SprintManager) -> None:
        self._sm = sprint_manager

    async def run_phase(
        self, phase: str, sprint_num: int, duration_minutes: int | None = None
    ) -> PhaseResult:
        if phase not in PHASES:
            raise ValueError(f"Unknown phase: {phase!r}")
        error = None
        artifacts: dict[str, Any] = {}
        try:
            artifacts = await self._sm.run(phase, sprint_num)
        except Exception as exc:
            error = str(exc)
        # like AAT: ids, agent, type, phase and time only; the content stays in the tracer
        decisions = [
            {
                "decision_id": d.decision_id,
                "agent_id": a.agent_id,
                "action_type": d.action_type,
                "phase": d.phase,
                "timestamp": d.timestamp,
            }
            for a in self._sm.agents
            if a._tracer is not None
            for d in a._tracer.decisions
            if d.phase == phase
        ]
        return PhaseResult(phase, sprint_num, 0.01, decisions, artifacts, {}, error)

    async def run_sequence(self, phases: list[str], sprint_num: int) -> list[PhaseResult]:
        results = []
        for phase in phases:
            results.append(await self.run_phase(phase, sprint_num))
            if results[-1].error:
                break
        return results


@dataclass
class RewardWeights:
    outcome: float = 0.40
    behavioral: float = 0.30
    efficiency: float = 0.15
    phase_completion: float = 0.15


@dataclass
class RewardSignal:
    outcome: float
    efficiency: float
    phase_completion: float
    behavioral: float
    total: float
    components: dict[str, float] = field(default_factory=dict)


class RewardCalculator:
    def __init__(self, weights: RewardWeights | None = None) -> None:
        self.weights = weights or RewardWeights()

    def compute(
        self,
        sprint_result: dict[str, Any],
        phase_results: list[PhaseResult] | None = None,
        expected_velocity: int = 10,
        behavioral_score: float = 0.0,
    ) -> RewardSignal:
        velocity = min(sprint_result["velocity"] / expected_velocity, 1.0)
        coverage = sprint_result["test_coverage"]
        completion = min(
            sprint_result["features_completed"] / sprint_result["features_planned"], 1.0
        )
        done = [p.error is None for p in phase_results or []]
        phases = sum(done) / len(done) if done else 1.0
        outcome = 0.4 * velocity + 0.3 * coverage + 0.3 * completion
        w = self.weights
        total = (
            w.outcome * outcome
            + w.behavioral * behavioral_score
            + w.efficiency
            + w.phase_completion * phases
        )
        return RewardSignal(
            outcome=outcome,
            efficiency=1.0,
            phase_completion=phases,
            behavioral=behavioral_score,
            total=total,
            components={
                "velocity_ratio": velocity,
                "coverage_score": coverage,
                "completion_rate": completion,
                "sessions_ratio": 0.1,
            },
        )


@dataclass
class EpisodeResult:
    episode_id: str
    episode_type: str
    stage: int
    difficulty: float
    phase_results: list[PhaseResult]
    final_observation: dict[str, Any]
    reward: RewardSignal
    behavioral_score: float
    behaviors_detected: list[str]
    decision_traces: dict[str, list[dict[str, Any]]]
    sprint_result: dict[str, Any] | None = None
    total_duration_seconds: float = 0.0
    terminated: bool = True
    truncated: bool = False


class EpisodeRunner:
    def __init__(
        self,
        catalog: ScenarioCatalog | None = None,
        reward_weights: RewardWeights | None = None,
        checkpoint_dir: Path | None = None,
        workspace_root: str = "/tmp/aat-episodes",
    ) -> None:
        self._catalog = catalog or ScenarioCatalog()
        self._reward = RewardCalculator(reward_weights)
        self._scorer = BehavioralScorer()
        self.workspace_root = workspace_root

    async def run_episode(
        self,
        episode_type: str,
        difficulty: float = 0.5,
        target_slot: str = "dev_mid_backend",
        seed: int | None = None,
        actions: list[Any] | None = None,
        checkpoint_every_phase: bool = False,
    ) -> EpisodeResult:
        scenario = self._catalog.generate(episode_type, difficulty, target_slot, seed)
        return await self.run_scenario(scenario, actions, checkpoint_every_phase)

    async def run_scenario(
        self,
        scenario: ScenarioConfig,
        actions: list[Any] | None = None,
        checkpoint_every_phase: bool = False,
    ) -> EpisodeResult:
        fail = tuple(scenario.disturbance_overrides.get("crash_phases", ()))
        sm = SprintManager(candidate=scenario.target_agent_slot, fail=fail)
        runner = PhaseRunner(sm)
        results = await runner.run_sequence(scenario.phases, sprint_num=1)
        traces = {
            a.agent_id: [asdict(d) for d in a._tracer.decisions]
            for a in sm.agents
            if a._tracer is not None
        }
        flat = [d for ds in traces.values() for d in ds]
        behavioural, detected = self._scorer.score(flat, scenario.expected_behaviors)
        planned = len(scenario.backlog_stories)
        completed = planned if "development" in scenario.phases and not fail else 0
        sprint = {
            "velocity": completed * 3,
            "features_completed": completed,
            "features_planned": planned,
            "test_coverage": 0.8 if completed else 0.0,
        }
        return EpisodeResult(
            episode_id=f"ep-{scenario.seed or 0:08x}",
            episode_type=scenario.episode_type,
            stage=scenario.stage,
            difficulty=scenario.difficulty,
            phase_results=results,
            final_observation={},
            reward=self._reward.compute(sprint, results, behavioral_score=behavioural),
            behavioral_score=behavioural,
            behaviors_detected=detected,
            decision_traces=traces,
            sprint_result=sprint,
        )


class _Inert:
    """A documented name the adapter does not call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class ObservationExtractor(_Inert): ...


class Observation(_Inert): ...


class AgentObservation(_Inert): ...


class ActionExecutor(_Inert): ...


class InjectDisturbance(_Inert): ...


class SwapAgentRole(_Inert): ...


class ModifyBacklog(_Inert): ...


class ModifyTeamComposition(_Inert): ...


class AdjustSprintParams(_Inert): ...


class CheckpointManager(_Inert): ...


class Checkpoint(_Inert): ...


class ExperimentConfigBuilder(_Inert): ...


class ExperimentConfig(_Inert): ...


ACTION_SPACE_SPEC: dict[str, Any] = {"type": "Discrete", "n": 6}


def register_runtime(name: str, factory: Any) -> None:
    """Inert."""
