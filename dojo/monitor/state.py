"""What the monitor shows: one snapshot of the running system, as plain data.

The terminal dashboard, the web dashboard, ``dojo monitor --once --json`` and
the Prometheus endpoint all render this one model. A value that could not be
measured is ``None`` (or absent) — never a made-up zero.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DriftPoint(BaseModel):
    """One closed window of one behaviour (episode types and components pooled, n-weighted)."""

    window_start: datetime
    window_end: datetime
    n: int
    agreement: float | None = Field(description="n-weighted mean of the windows' Spearman rho")
    mean_residual: float | None = Field(description="judge minus heuristic, n-weighted")


class DriftSeries(BaseModel):
    behaviour: str
    windows: int = Field(description="closed windows of this behaviour in view")
    points: list[DriftPoint] = Field(description="the latest windows, oldest first")
    alerts: int = 0


class AlertRow(BaseModel):
    produced_at: datetime
    behaviour: str
    episode_type: str
    metric: str
    value: float
    threshold: float
    message: str


class DriftView(BaseModel):
    windows_total: int = 0
    alerts_total: int = 0
    series: list[DriftSeries] = Field(default_factory=list)
    alerts: list[AlertRow] = Field(default_factory=list, description="latest first")
    followed_live: bool = Field(
        default=False, description="windows/alerts also read off the drift topic as they came"
    )


class RewardPoint(BaseModel):
    at: datetime
    mean: float
    n: int


class RewardVersionView(BaseModel):
    reward_version: str
    rows: int
    mean: float | None
    first: datetime | None
    last: datetime | None
    points: list[RewardPoint] = Field(default_factory=list, description="mean scalar over time")


class PolicyPoint(BaseModel):
    policy_version: str
    produced_at: datetime
    updates: int
    trajectories: int
    metrics: dict[str, float] = Field(default_factory=dict)


class UpdatePoint(BaseModel):
    """One optimizer update of the learner (a LearnerUpdated event)."""

    update: int
    lineage: str
    produced_at: datetime
    policy_version: str
    decisions: int
    metrics: dict[str, float] = Field(default_factory=dict)


class LearnerView(BaseModel):
    versions: int = 0
    latest: PolicyPoint | None = None
    history: list[PolicyPoint] = Field(default_factory=list, description="oldest first")
    update_count: int = 0
    updates: list[UpdatePoint] = Field(
        default_factory=list, description="the latest updates, oldest first"
    )
    reward: float | None = None
    kl: float | None = None
    idle_ratio: float | None = None
    policy_lag: float | None = None


class EvalView(BaseModel):
    report_id: str
    cadence: str
    policy_version: str
    stage: int
    tasks: int
    produced_at: datetime
    metrics: dict[str, float | None]
    baselines: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    transfer: dict[str, float | None] = Field(default_factory=dict)


class ProgressPoint(BaseModel):
    """One evaluation report's value of one primary metric: the subject's and each baseline's."""

    report_id: str
    cadence: str
    policy_version: str
    produced_at: datetime
    episodes: int | None = Field(
        default=None, description="the episode mark of an evaluator's report; None: not known"
    )
    value: float | None = Field(description="the subject's; None: not measured")
    baselines: dict[str, float | None] = Field(
        default_factory=dict, description="per baseline; None: not measured"
    )


class ProgressSeries(BaseModel):
    """One primary metric over the latest evaluation reports, oldest first."""

    metric: str
    direction: str = Field(description="'higher' or 'lower' is better")
    target: float | None
    points: list[ProgressPoint] = Field(default_factory=list)


class ProgressView(BaseModel):
    """Each primary metric over policy versions: learning, or its absence."""

    reports: int = Field(default=0, description="evaluation reports stored in all")
    baselines: list[str] = Field(default_factory=list, description="baselines, in drawing order")
    series: list[ProgressSeries] = Field(default_factory=list)


class JudgeView(BaseModel):
    verdicts: int = 0
    failures: int = 0
    failures_by_type: dict[str, int] = Field(default_factory=dict)
    by_version: dict[str, int] = Field(default_factory=dict)
    #: from the live scoring workers, when any is running
    calls: int | None = None
    latency_mean_s: float | None = None
    latency_sum_s: float | None = None
    latency_max_s: float | None = None
    latency_buckets: dict[str, int] | None = None
    cached: int | None = None
    flip_rate: float | None = None
    spend_usd: float | None = None
    #: the judge gap: due decisions whose reward rests on heuristic components alone,
    #: because the judge answered JudgeFailed (never a made-up score), and their share
    gap: int = 0
    gap_share: float | None = None
    #: of the gap, judgements the circuit breaker refused while the judge service was down
    circuit_open: int = 0
    #: the live scoring workers' circuit breakers: the worst state, times opened (summed)
    breaker: str | None = None
    breaker_opened: int | None = None


class PipelineView(BaseModel):
    events_stored: int = 0
    events_by_type: dict[str, int] = Field(default_factory=dict)
    events_per_s: float | None = Field(
        default=None, description="stored per second over the last rate window, until now"
    )
    rate_window_s: float = 60.0
    store_lag_s: float | None = Field(
        default=None,
        description="mean time from production to storage of the latest 1000 stored events",
    )
    episodes_completed: int = 0
    dead_letters: int = 0
    consumer_lag: dict[str, int] | None = Field(
        default=None, description="per consumer group; None without a reachable broker"
    )


class MonitorState(BaseModel):
    generated_at: datetime
    store: str
    pipeline: PipelineView = PipelineView()
    drift: DriftView = DriftView()
    rewards: list[RewardVersionView] = Field(default_factory=list)
    learner: LearnerView = LearnerView()
    evaluation: list[EvalView] = Field(default_factory=list, description="latest first")
    progress: ProgressView = ProgressView()
    judge: JudgeView = JudgeView()
    problems: list[str] = Field(
        default_factory=list, description="parts that could not be read, and why"
    )
