"""The judge interface every implementation (offline, Anthropic, wrappers) satisfies."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from dojo.judge.request import JudgeRequest
from dojo.judge.result import JudgeFailure, Presentation, Verdict, judge_version
from dojo.judge.sampling import SamplingConfig


@runtime_checkable
class Judge(Protocol):
    """Grades decisions. ``judge`` never raises for a bad response or a dead service:
    it returns a :class:`JudgeFailure` with the reason instead."""

    @property
    def judge_model(self) -> str: ...

    @property
    def rubric_version(self) -> str: ...

    @property
    def sampling(self) -> SamplingConfig: ...

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure: ...


def version_of(judge: Judge) -> str:
    """The ``judge_version`` its results carry: model id and rubric version."""
    return judge_version(judge.judge_model, judge.rubric_version)


async def judge_if_due(judge: Judge, request: JudgeRequest) -> Verdict | JudgeFailure | None:
    """Judge the request when its sampling selects it; ``None`` when it is not due."""
    if not judge.sampling.selects(request):
        return None
    return await judge.judge(request)
