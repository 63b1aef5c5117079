"""Judge hygiene: grade a fraction of decisions twice, presentation order swapped.

The second judgement reverses the order of the context sections and of the
components (see :mod:`dojo.judge.prompt`). Both are recorded: the verdict keeps
its canonical scores and carries the swapped run as ``repeat``. A request
*flips* when some component's score moves by more than ``tolerance`` between
the two orders, or is scored in one and abstained in the other. The flip rate
is the share of double-judged requests that flipped; a judge with a high flip
rate is reading position, not evidence.
"""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import BaseModel, ConfigDict, Field

from dojo.judge.base import Judge
from dojo.judge.request import JudgeRequest
from dojo.judge.result import JudgeFailure, Presentation, RepeatCheck, Verdict
from dojo.judge.sampling import SamplingConfig


class HygieneConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    double_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    tolerance: float = Field(default=0.2, ge=0.0, le=1.0)
    salt: str = "hygiene"

    def selects(self, request: JudgeRequest) -> bool:
        """Deterministic by content, so a replay double-judges the same requests."""
        digest = hashlib.sha256(f"{self.salt}\x00{request.content_hash()}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.double_fraction


class FlipRate(BaseModel):
    """Counts for the monitor; ``rate`` is ``None`` before any double judgement."""

    model_config = ConfigDict(frozen=True)

    double_judged: int = 0
    flipped: int = 0

    @property
    def rate(self) -> float | None:
        return self.flipped / self.double_judged if self.double_judged else None


class FlipTracker:
    def __init__(self) -> None:
        self._counts = FlipRate()

    def record(self, flipped: bool) -> None:
        self._counts = FlipRate(
            double_judged=self._counts.double_judged + 1,
            flipped=self._counts.flipped + int(flipped),
        )

    @property
    def counts(self) -> FlipRate:
        return self._counts


def compare(first: Verdict, second: Verdict | JudgeFailure, tolerance: float) -> RepeatCheck:
    """The repeat record of ``second`` against ``first``."""
    if isinstance(second, JudgeFailure):
        return RepeatCheck(presentation=second.presentation, failure_reason=second.reason)
    both = set(first.scores) & set(second.scores)
    diffs = [abs(first.scores[k] - second.scores[k]) for k in both]
    max_diff = max(diffs) if diffs else None
    abstention_changed = set(first.abstained) != set(second.abstained)
    return RepeatCheck(
        presentation=second.presentation,
        scores=second.scores,
        abstained=second.abstained,
        max_abs_diff=max_diff,
        flipped=abstention_changed or (max_diff is not None and max_diff > tolerance),
    )


class HygieneJudge:
    """Wraps a judge; double-judges the selected fraction and tracks the flip rate."""

    def __init__(self, inner: Judge, config: HygieneConfig | None = None) -> None:
        self._inner = inner
        self._config = config or HygieneConfig()
        self.flips = FlipTracker()

    @property
    def config(self) -> HygieneConfig:
        return self._config

    @property
    def judge_model(self) -> str:
        return self._inner.judge_model

    @property
    def rubric_version(self) -> str:
        return self._inner.rubric_version

    @property
    def sampling(self) -> SamplingConfig:
        return self._inner.sampling

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure:
        if presentation != "canonical" or not self._config.selects(request):
            return await self._inner.judge(request, presentation=presentation)
        first, second = await asyncio.gather(
            self._inner.judge(request, presentation="canonical"),
            self._inner.judge(request, presentation="swapped"),
        )
        if isinstance(first, JudgeFailure):
            return first
        repeat = compare(first, second, self._config.tolerance)
        if repeat.flipped is not None:
            self.flips.record(repeat.flipped)
        return first.model_copy(update={"repeat": repeat})
