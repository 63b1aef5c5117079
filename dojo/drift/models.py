"""What goes into the drift detector and what comes out of it.

``DriftWindow`` and ``DriftAlert`` are the payloads of the drift topic's events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.registry import CODE_PATTERN

Check = Literal["page_hinkley", "psi", "ks", "rank_agreement"]


class ScorePair(BaseModel):
    """One judge component of one decision, scored by the judge and by the heuristic."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    episode_type: str = Field(pattern=CODE_PATTERN)
    component: str = Field(
        pattern=r"^B-\d\d/[a-z][a-z0-9_]*$", description='e.g. "B-08/comparison"'
    )
    judge: float = Field(ge=0.0, le=1.0)
    heuristic: float = Field(ge=0.0, le=1.0)
    timestamp: float = Field(description="event time, seconds")

    @property
    def behaviour(self) -> str:
        return self.component.split("/", 1)[0]

    @property
    def residual(self) -> float:
        return self.judge - self.heuristic


class GroupKey(BaseModel):
    """The stream a pair belongs to: behaviour (or component) × episode type."""

    model_config = ConfigDict(frozen=True)

    behaviour: str
    component: str | None = None
    episode_type: str

    @property
    def name(self) -> str:
        return f"{self.component or self.behaviour}|{self.episode_type}"


class DriftWindow(BaseModel):
    """Statistics of one closed window of one group.

    Statistics that need more pairs than the window holds, or a reference that
    is not complete yet, are ``None`` — never a passing value.
    """

    model_config = ConfigDict(frozen=True)

    group: GroupKey
    window_kind: Literal["tumbling", "hopping"]
    window_start: float
    window_end: float
    n: int
    judge_mean: float
    heuristic_mean: float
    mean_residual: float
    residual_sd: float | None
    rank_agreement: float | None = Field(description="Spearman's rho, judge vs heuristic")
    reference_ready: bool
    psi: float | None
    ks: float | None
    ks_critical: float | None
    rank_drop_z: float | None
    page_hinkley: float | None = Field(description="the test's statistic at close, in sd")
    page_hinkley_alarms: int = 0
    tripped: tuple[Check, ...] = ()
    late_dropped: int = Field(default=0, description="late pairs dropped since the last window")
    config_version: str


class DriftAlert(BaseModel):
    """A threshold tripped: the onset of drift on one check of one group."""

    model_config = ConfigDict(frozen=True)

    group: GroupKey
    check: Check
    value: float
    threshold: float
    direction: Literal["up", "down"] | None = Field(
        default=None, description="page_hinkley: judge drifting above (up) or below the heuristic"
    )
    window_start: float
    window_end: float
    at: float = Field(description="event time the alert refers to")
    message: str
    config_version: str


DriftEvent = DriftWindow | DriftAlert
