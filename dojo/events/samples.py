"""One fixed, realistic example of every event type: the golden samples in ``schemas/``."""

from __future__ import annotations

from datetime import UTC, datetime

from dojo.env.moves import Move
from dojo.env.protocol import Consequence, EpisodeOutcome, EpisodeSpec
from dojo.events.codec import AnyEvent
from dojo.events.envelope import Stamper
from dojo.events.models import (
    DeadLetter,
    DecisionMade,
    DecisionRewarded,
    DriftAlert,
    DriftWindow,
    EpisodeCompleted,
    EpisodeStarted,
    EvalReport,
    JudgeFailed,
    JudgeVerdict,
    LearnerUpdated,
    PhaseCompleted,
    PhaseStarted,
    PolicyVersionPublished,
    ScoredDecision,
    StageChanged,
    TrajectoryScored,
)

_T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
_EP = "ep-0000000000000001"
_DEC = f"{_EP}/003"
_SPEC = EpisodeSpec(episode_type="E-1.1", seed=1234, difficulty=0.5, stage=1)


def sample_events() -> list[AnyEvent]:
    """Every event type once, deterministic (fixed ids and clock)."""
    env = Stamper("env-worker-0@sample", clock=lambda: _T0)
    streams = Stamper("streams@sample", clock=lambda: _T0)
    move = Move(name="ask_question", args={"dimension": "scope"}, text="What is out of scope?")
    window = {
        "behaviour": "B-01",
        "episode_type": "E-1.1",
        "window_kind": "tumbling",
        "window_start": _T0,
        "window_end": datetime(2026, 11, 25, 12, 1, 0, tzinfo=UTC),
        "reward_version": "r-1a2b3c4d",
        "judge_version": "offline@rubric-5e6f",
    }
    return [
        env.make(
            EpisodeStarted,
            (_EP, 0),
            episode_id=_EP,
            spec=_SPEC,
            policy_version="tiny-base",
            scenario="CSV export for the billing team; legacy codebase",
        ),
        env.make(PhaseStarted, (_EP, 1), episode_id=_EP, phase="elicitation", index=0),
        env.make(
            DecisionMade,
            (_EP, 2),
            episode_id=_EP,
            decision_id=_DEC,
            step=3,
            phase="elicitation",
            policy_version="tiny-base",
            prompt_text="You are the developer. Phase: elicitation. Moves: ask_question ...",
            prompt_token_ids=[5, 17, 99, 4],
            completion_text="ask_question dimension=scope | What is out of scope?",
            completion_token_ids=[40, 41, 42],
            logprobs=[-0.5, 0.0, -1.25],
            allowed_token_ids=[[40, 50, 60], [41], None],
            move=move,
            consequences=[
                Consequence(
                    kind="constraint_revealed",
                    description="The PO says: exports must exclude archived accounts.",
                    cost=0.25,
                )
            ],
            signals={"B-01/gap_coverage": 1.0, "B-01/non_redundancy": 1.0},
            transition=None,
            transition_correct=None,
            generation_ms=12.5,
            finish_reason="eos",
        ),
        env.make(
            PhaseCompleted,
            (_EP, 3),
            episode_id=_EP,
            phase="elicitation",
            index=0,
            outcome={"constraints_found": 0.5},
        ),
        env.make(
            EpisodeCompleted,
            (_EP, 4),
            episode_id=_EP,
            outcome=EpisodeOutcome(
                status="completed",
                signals={"story_accepted": 1.0, "tests_passing": 0.8},
                behaviour_metrics={"B-04": 0.2},
                decisions=6,
                baseline_actions=8,
            ),
            policy_version="tiny-base",
            event_count=4,
        ),
        streams.make(
            DecisionRewarded,
            (_DEC, "r-1a2b3c4d", None),
            episode_id=_EP,
            decision_id=_DEC,
            reward_version="r-1a2b3c4d",
            judge_version="offline@rubric-5e6f",
            episode_type="E-1.1",
            stage=1,
            vector={"B-01": 0.8, "outcome": 0.9, "efficiency": 0.0},
            scalar=0.83,
            components_present=["B-01/gap_coverage", "B-01/question_specificity"],
        ),
        streams.make(
            JudgeVerdict,
            (_DEC, "offline@rubric-5e6f", "c0ffee", False),
            episode_id=_EP,
            decision_id=_DEC,
            judge_version="offline@rubric-5e6f",
            judge_model="offline",
            rubric_version="rubric-5e6f",
            content_hash="c0ffee",
            scores={"B-01/question_specificity": 0.75},
            rationale="Names the dimension and asks for a boundary.",
        ),
        streams.make(
            JudgeFailed,
            (_DEC, "claude-opus-4-1@rubric-5e6f", "failed"),
            episode_id=_EP,
            decision_id=_DEC,
            judge_version="claude-opus-4-1@rubric-5e6f",
            judge_model="claude-opus-4-1",
            content_hash="c0ffee",
            reason="HTTP 529 overloaded after 5 attempts",
            error_type="APIStatusError",
            attempts=5,
        ),
        streams.make(
            TrajectoryScored,
            (_EP, "r-1a2b3c4d", "offline@rubric-5e6f"),
            episode_id=_EP,
            spec=_SPEC,
            policy_version="tiny-base",
            reward_version="r-1a2b3c4d",
            judge_version="offline@rubric-5e6f",
            episode_reward=0.83,
            decisions=[
                ScoredDecision(
                    decision_id=_DEC,
                    step=3,
                    prompt_token_ids=[5, 17, 99, 4],
                    completion_token_ids=[40, 41, 42],
                    logprobs=[-0.5, 0.0, -1.25],
                    allowed_token_ids=[[40, 50, 60], [41], None],
                    reward=0.83,
                    vector={"B-01": 0.8},
                )
            ],
        ),
        streams.make(
            DriftWindow,
            ("B-01", "E-1.1", "tumbling", _T0),
            n=48,
            agreement=0.71,
            mean_residual=0.04,
            psi=0.03,
            ks=0.11,
            page_hinkley=0.2,
            **window,
        ),
        streams.make(
            DriftAlert,
            ("B-01", "E-1.1", "tumbling", _T0, "mean_residual"),
            metric="mean_residual",
            value=0.19,
            threshold=0.1,
            message="judge scores B-01 0.19 above the heuristics",
            **window,
        ),
        Stamper("learner@sample", clock=lambda: _T0).make(
            PolicyVersionPublished,
            ("v000002",),
            policy_version="v000002",
            parent_version="v000001",
            base_model="tiny",
            adapter_path=".dojo/adapters/v000002",
            updates=20,
            trajectories=160,
            metrics={"loss": 0.12, "kl": 0.01},
        ),
        Stamper("learner@sample", clock=lambda: _T0).make(
            LearnerUpdated,
            ("5f0c", 20),
            lineage="5f0c",
            update=20,
            base_model="tiny-0123456789ab",
            policy_version="v000001",
            trajectory_ids=["7d1c6d2e-4b1f-5c55-9f4e-0c1de2f3a4b5"],
            dropped_ids=[],
            skipped_ids=[],
            decisions=9,
            metrics={"loss": 0.12, "kl_to_reference": 0.01, "idle_ratio": 0.3},
        ),
        Stamper("eval@sample", clock=lambda: _T0).make(
            EvalReport,
            ("quick-v000002-0001",),
            report_id="quick-v000002-0001",
            cadence="quick",
            policy_version="v000002",
            stage=1,
            tasks=10,
            metrics={"elicitation_quality": 0.62, "intent_match": None},
            baselines={"random": {"elicitation_quality": 0.1, "intent_match": None}},
            transfer={},
        ),
        Stamper("evaluator@sample", clock=lambda: _T0).make(
            StageChanged,
            (1, 2, 4200),
            from_stage=1,
            to_stage=2,
            episodes=4200,
            criteria={
                "elicitation_quality": 0.74,
                "decomposition_accuracy": 0.69,
                "self_correction_rate": 0.55,
            },
            window=20,
            reason="every stage-1 criterion met over the last 20 measurements",
        ),
        Stamper("sink@sample", clock=lambda: _T0).make(
            DeadLetter,
            ("dojo.episodes", 0, 17),
            topic="dojo.episodes",
            partition=0,
            offset=17,
            consumer="sink",
            reason="not JSON: Expecting value: line 1 column 1 (char 0)",
            error_type="NotJSON",
            payload="garbage",
            payload_sha256="2b7e1fd8c6cd0ed0b2b01a1a1c89b2b5be1c7e37bdbd1c4e0f1e1f3cb6d0b1e9",
        ),
    ]
