"""Verdict cache: replaying history never pays twice for the same judgement.

Keyed by (judge model, rubric version, content hash): a new model or a reworded
rubric misses the cache by construction. Only verdicts are cached — a failure
may succeed next time. The DuckDB implementation lives in ``dojo.store``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from dojo.judge.base import Judge
from dojo.judge.request import JudgeRequest
from dojo.judge.result import JudgeFailure, Presentation, Verdict
from dojo.judge.sampling import SamplingConfig


class VerdictKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    judge_model: str
    rubric_version: str
    content_hash: str


@runtime_checkable
class VerdictCache(Protocol):
    def get(self, key: VerdictKey) -> Verdict | None: ...

    def put(self, key: VerdictKey, verdict: Verdict) -> None: ...


class InMemoryVerdictCache:
    """A dict behind the :class:`VerdictCache` interface, for tests and one-off runs."""

    def __init__(self) -> None:
        self._verdicts: dict[VerdictKey, Verdict] = {}

    def __len__(self) -> int:
        return len(self._verdicts)

    def get(self, key: VerdictKey) -> Verdict | None:
        return self._verdicts.get(key)

    def put(self, key: VerdictKey, verdict: Verdict) -> None:
        self._verdicts[key] = verdict


class CachedJudge:
    """Consults the cache before the wrapped judge; stores its verdicts.

    Only the canonical presentation is cached: the swapped one exists to be
    compared with a fresh canonical judgement.
    """

    def __init__(self, inner: Judge, cache: VerdictCache) -> None:
        self._inner = inner
        self._cache = cache

    @property
    def judge_model(self) -> str:
        return self._inner.judge_model

    @property
    def rubric_version(self) -> str:
        return self._inner.rubric_version

    @property
    def sampling(self) -> SamplingConfig:
        return self._inner.sampling

    def key(self, request: JudgeRequest) -> VerdictKey:
        return VerdictKey(
            judge_model=self.judge_model,
            rubric_version=self.rubric_version,
            content_hash=request.content_hash(),
        )

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure:
        if presentation != "canonical":
            return await self._inner.judge(request, presentation=presentation)
        key = self.key(request)
        hit = self._cache.get(key)
        if hit is not None:
            return hit.model_copy(update={"cached": True})
        result = await self._inner.judge(request)
        if isinstance(result, Verdict):
            self._cache.put(key, result)
        return result
