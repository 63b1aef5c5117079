"""Every Dojo event (version 1, DecisionMade and TrajectoryScored version 2).

One class per event type. A class's ``schema_version`` literal is its current
version; older versions are upgraded on decode (:mod:`dojo.events.codec`).
Changing a field means a new version, a new ``schemas/`` entry and an upcaster:
``tests/events/test_schemas.py`` fails until all three exist.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dojo.env.moves import Move
from dojo.env.protocol import Consequence, EpisodeOutcome, EpisodeSpec, Transition
from dojo.events.envelope import Event

EpisodeId = Annotated[str, Field(min_length=1, max_length=100)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _EpisodeEvent(Event):
    KEY_FIELD: ClassVar[str | None] = "episode_id"
    episode_id: EpisodeId


# --- episode events (published by environment workers) -------------------------------


class EpisodeStarted(_EpisodeEvent):
    type: Literal["EpisodeStarted"] = "EpisodeStarted"
    schema_version: Literal[1] = 1
    spec: EpisodeSpec
    policy_version: str
    scenario: str = Field(default="", description="one-line summary of the generated scenario")


class PhaseStarted(_EpisodeEvent):
    type: Literal["PhaseStarted"] = "PhaseStarted"
    schema_version: Literal[1] = 1
    phase: str
    index: int = Field(ge=0)


class PhaseCompleted(_EpisodeEvent):
    type: Literal["PhaseCompleted"] = "PhaseCompleted"
    schema_version: Literal[1] = 1
    phase: str
    index: int = Field(ge=0)
    outcome: dict[str, float] = Field(default_factory=dict)


class DecisionMade(_EpisodeEvent):
    """One decision of the candidate, token-in/token-out.

    ``logprobs[i]`` is the log-probability of ``completion_token_ids[i]`` under the
    distribution the policy actually sampled from; where decoding was constrained,
    ``allowed_token_ids[i]`` lists the tokens the mask allowed (``None``: free).
    Reference (scripted) policies produce text only: empty token lists.

    A chat model plays an episode as one conversation (:mod:`dojo.policy.conversation`):
    ``prompt_token_ids`` are the ids appended to it for this decision, and
    ``context_offset`` counts the conversation's ids before them, which are the
    episode's previous decisions' prompt and completion ids back to the last
    decision with offset 0. Offset 0: the prompt is whole (every decision of a
    single-turn policy, a conversation's first decision, a restart).
    ``prompt_text`` is always the whole prompt of this observation as a fresh
    conversation would read it (what the judge reads).

    Version 2 added ``context_offset``, ``context_restarted`` and ``finish_reason``;
    version 1 events read as whole prompts with no recorded finish.
    """

    type: Literal["DecisionMade"] = "DecisionMade"
    schema_version: Literal[2] = 2
    decision_id: str = Field(min_length=1, max_length=140)
    step: int = Field(ge=0)
    phase: str
    policy_version: str
    prompt_text: str
    prompt_token_ids: list[int] = Field(default_factory=list)
    completion_text: str
    completion_token_ids: list[int] = Field(default_factory=list)
    logprobs: list[float] = Field(default_factory=list)
    allowed_token_ids: list[list[int] | None] | None = None
    move: Move
    consequences: list[Consequence] = Field(default_factory=list)
    signals: dict[str, float] = Field(default_factory=dict)
    transition: Transition | None = None
    transition_correct: bool | None = None
    generation_ms: float = Field(default=0.0, ge=0.0)
    context_offset: int = Field(
        default=0,
        ge=0,
        description="conversation ids before prompt_token_ids (the episode's earlier "
        "decisions' prompt and completion ids since the last offset 0); 0: a whole prompt",
    )
    context_restarted: bool = Field(
        default=False,
        description="the conversation started afresh at this decision: continuing it would "
        "have overflowed the model's context",
    )
    finish_reason: Literal["eos", "newline", "length"] | None = Field(
        default=None,
        description="how the completion ended: the grammar's end (eos), a newline in its "
        "free text, or the cap on free text (length; the move keeps the text cut there); "
        "None: a scripted policy",
    )

    @model_validator(mode="after")
    def _aligned(self) -> DecisionMade:
        if len(self.logprobs) != len(self.completion_token_ids):
            raise ValueError("logprobs and completion_token_ids differ in length")
        if self.allowed_token_ids is not None and len(self.allowed_token_ids) != len(
            self.completion_token_ids
        ):
            raise ValueError("allowed_token_ids and completion_token_ids differ in length")
        return self


class EpisodeCompleted(_EpisodeEvent):
    """The last event of an episode. ``event_count`` counts the episode's events
    before this one, so a consumer can tell a complete episode from a torn one."""

    type: Literal["EpisodeCompleted"] = "EpisodeCompleted"
    schema_version: Literal[1] = 1
    outcome: EpisodeOutcome
    policy_version: str
    event_count: int = Field(ge=0)


# --- scoring events (published by stream processors) --------------------------------


class DecisionRewarded(_EpisodeEvent):
    type: Literal["DecisionRewarded"] = "DecisionRewarded"
    schema_version: Literal[1] = 1
    decision_id: str
    reward_version: str
    judge_version: str | None = None
    episode_type: str
    stage: int = Field(ge=1, le=4)
    vector: dict[str, float]
    scalar: float
    components_present: list[str] = Field(default_factory=list)


class JudgeVerdict(_EpisodeEvent):
    type: Literal["JudgeVerdict"] = "JudgeVerdict"
    schema_version: Literal[1] = 1
    decision_id: str
    judge_version: str
    judge_model: str
    rubric_version: str
    content_hash: str
    scores: dict[str, Score]
    rationale: str = ""
    swapped: bool = False
    cached: bool = False


class JudgeFailed(_EpisodeEvent):
    """A judgement that produced no verdict. Deliberately carries no score."""

    type: Literal["JudgeFailed"] = "JudgeFailed"
    schema_version: Literal[1] = 1
    decision_id: str
    judge_version: str
    judge_model: str
    content_hash: str
    reason: str
    error_type: str
    attempts: int = Field(ge=0)


class ScoredDecision(BaseModel):
    """A decision as the learner needs it: tokens, behaviour log-probs, reward."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    decision_id: str
    step: int = Field(ge=0)
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    logprobs: list[float]
    allowed_token_ids: list[list[int] | None] | None = None
    reward: float
    vector: dict[str, float] = Field(default_factory=dict)
    context_offset: int = Field(default=0, ge=0, description="as in DecisionMade")


class TrajectoryScored(_EpisodeEvent):
    """An episode's decisions with their rewards. Version 2 added each decision's
    ``context_offset`` (version 1 events read as whole prompts)."""

    type: Literal["TrajectoryScored"] = "TrajectoryScored"
    schema_version: Literal[2] = 2
    spec: EpisodeSpec
    policy_version: str
    reward_version: str
    judge_version: str | None = None
    episode_reward: float
    decisions: list[ScoredDecision]


# --- drift ----------------------------------------------------------------------------


class _DriftEvent(Event):
    KEY_FIELD: ClassVar[str | None] = "behaviour"
    behaviour: str
    episode_type: str
    window_kind: Literal["tumbling", "hopping"]
    window_start: AwareDatetime
    window_end: AwareDatetime
    reward_version: str
    judge_version: str


class DriftWindow(_DriftEvent):
    """Judge–heuristic calibration over one window. ``None``: not computable (too few pairs)."""

    type: Literal["DriftWindow"] = "DriftWindow"
    schema_version: Literal[1] = 1
    n: int = Field(ge=0)
    agreement: float | None = None
    mean_residual: float | None = None
    psi: float | None = None
    ks: float | None = None
    page_hinkley: float | None = None


class DriftAlert(_DriftEvent):
    type: Literal["DriftAlert"] = "DriftAlert"
    schema_version: Literal[1] = 1
    metric: str
    value: float
    threshold: float
    message: str


# --- learner, evaluation ----------------------------------------------------------------


class PolicyVersionPublished(Event):
    type: Literal["PolicyVersionPublished"] = "PolicyVersionPublished"
    schema_version: Literal[1] = 1
    policy_version: str
    parent_version: str | None = None
    base_model: str
    adapter_path: str
    updates: int = Field(ge=0)
    trajectories: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)


class LearnerUpdated(Event):
    """One optimizer update of the learner: what it trained on and what it measured.

    ``trajectory_ids`` are the event ids of the TrajectoryScored events this update
    trained on, ``dropped_ids`` those it consumed but dropped as too stale,
    ``skipped_ids`` those it could not train on (no token record, e.g. a scripted
    policy's). Together they account for every trajectory the update consumed.
    ``lineage`` names one line of training (a fresh adapter starts a new one), so
    ``(lineage, update)`` identifies an update across learner restarts.
    """

    type: Literal["LearnerUpdated"] = "LearnerUpdated"
    schema_version: Literal[1] = 1
    lineage: str = Field(min_length=1, max_length=100)
    update: int = Field(ge=1)
    base_model: str
    policy_version: str = Field(description="the newest published version when it trained")
    trajectory_ids: list[str] = Field(default_factory=list)
    dropped_ids: list[str] = Field(default_factory=list)
    skipped_ids: list[str] = Field(default_factory=list)
    decisions: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)


class EvalReport(Event):
    type: Literal["EvalReport"] = "EvalReport"
    schema_version: Literal[1] = 1
    report_id: str
    cadence: Literal["quick", "full", "comprehensive"]
    policy_version: str
    stage: int = Field(ge=1, le=4)
    tasks: int = Field(ge=0)
    metrics: dict[str, float | None]
    baselines: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    transfer: dict[str, float | None] = Field(default_factory=dict)


class StageChanged(Event):
    """The curriculum moved to another stage (SPEC §5), with the evidence it moved on.

    ``criteria`` holds each graduation criterion's value as measured (the mean of
    the last ``window`` measurements); ``None`` where it could not be measured.
    """

    type: Literal["StageChanged"] = "StageChanged"
    schema_version: Literal[1] = 1
    from_stage: int = Field(ge=1, le=4)
    to_stage: int = Field(ge=1, le=4)
    episodes: int = Field(ge=0, description="completed training episodes counted at the change")
    criteria: dict[str, float | None] = Field(default_factory=dict)
    window: int = Field(ge=1)
    reason: str = ""


# --- failures -------------------------------------------------------------------------


class DeadLetter(Event):
    """A message some consumer could not process, kept with the reason."""

    type: Literal["DeadLetter"] = "DeadLetter"
    schema_version: Literal[1] = 1
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    consumer: str
    reason: str
    error_type: str
    payload: str = Field(
        description="the original bytes, UTF-8 decoded with replacement, truncated"
    )
    payload_sha256: str
    payload_truncated: bool = False
