"""What a judgement yields: a verdict, or a failure that carries no score at all.

A failure never holds a number: reward attribution treats the judge
components as missing (and the wiring publishes a ``JudgeFailed`` event).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

Presentation = Literal["canonical", "swapped"]
"""Order in which the prompt presents context sections and components (see hygiene)."""


def judge_version(judge_model: str, rubric_version: str) -> str:
    """The one string naming who graded and by which rubric."""
    return f"{judge_model}@{rubric_version}"


class TokenUsage(BaseModel):
    """Tokens one model call used, and what they cost under the configured prices."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


def _check_unit_scores(scores: dict[str, float]) -> dict[str, float]:
    for key, score in scores.items():
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score of {key} is {score}, outside [0, 1]")
    return scores


class RepeatCheck(BaseModel):
    """The second judgement of a double-judged request (presentation order swapped)."""

    model_config = ConfigDict(frozen=True)

    presentation: Presentation = "swapped"
    scores: dict[str, float] = Field(default_factory=dict)
    abstained: tuple[str, ...] = ()
    max_abs_diff: float | None = Field(
        default=None, description="largest |first − second| over components both scored"
    )
    flipped: bool | None = Field(
        default=None, description="None when the second judgement failed: not counted"
    )
    failure_reason: str | None = None

    _unit_scores = field_validator("scores")(_check_unit_scores)


class Verdict(BaseModel):
    """A judgement: a score in [0, 1] per judge component, or an explicit abstention."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["verdict"] = "verdict"
    content_hash: str
    judge_model: str
    rubric_version: str
    scores: dict[str, float]
    abstained: tuple[str, ...] = Field(
        default=(), description="components the decision gave no evidence for: no score"
    )
    rationale: str
    evidence: dict[str, str] = Field(default_factory=dict)
    presentation: Presentation = "canonical"
    attempts: int = Field(default=1, ge=0)
    usage: TokenUsage | None = None
    cached: bool = False
    repeat: RepeatCheck | None = None

    _unit_scores = field_validator("scores")(_check_unit_scores)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def judge_version(self) -> str:
        return judge_version(self.judge_model, self.rubric_version)


class JudgeFailure(BaseModel):
    """A judgement that produced no verdict, with the reason. Never carries a score."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["failure"] = "failure"
    content_hash: str
    judge_model: str
    rubric_version: str
    reason: str
    error_type: str
    attempts: int = Field(ge=0)
    presentation: Presentation = "canonical"
    usage: TokenUsage | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def judge_version(self) -> str:
        return judge_version(self.judge_model, self.rubric_version)


JudgeResult = Annotated[Verdict | JudgeFailure, Field(discriminator="kind")]
