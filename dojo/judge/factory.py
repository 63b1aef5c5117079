"""The judge a scoring process uses, assembled from ``DOJO_JUDGE*`` settings.

``offline`` (the default) is the deterministic rubric-driven heuristic of
:mod:`dojo.judge.offline`; ``anthropic`` is Claude through the official SDK and
needs an API key. Either way the stack is, from the outside in: the verdict
cache, hygiene (double judgement of a fraction, order swapped), the judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dojo.config import Settings
from dojo.judge.anthropic_judge import DEFAULT_MODEL, AnthropicJudge, AnthropicJudgeConfig
from dojo.judge.base import Judge, version_of
from dojo.judge.breaker import BreakerConfig, BreakerState
from dojo.judge.cache import CachedJudge
from dojo.judge.hygiene import HygieneConfig, HygieneJudge
from dojo.judge.offline import OfflineJudge
from dojo.judge.result import TokenUsage
from dojo.judge.retry import RetryConfig
from dojo.judge.sampling import SamplingConfig
from dojo.judge.store_cache import Reader, StoreVerdictCache


class JudgeNotConfigured(ValueError):
    """The settings ask for a judge that cannot be built (a missing key, say)."""


@dataclass
class JudgeStack:
    """The judge to call (``judge``) and the parts a monitor or a test reads."""

    judge: Judge
    model: OfflineJudge | AnthropicJudge
    hygiene: HygieneJudge
    cache: StoreVerdictCache

    @property
    def version(self) -> str:
        return version_of(self.judge)

    @property
    def sampling(self) -> SamplingConfig:
        return self.judge.sampling

    @property
    def paid(self) -> bool:
        """Whether a judgement costs money (and so is worth a store lookup first)."""
        return isinstance(self.model, AnthropicJudge)

    @property
    def usage(self) -> TokenUsage:
        return self.model.usage if isinstance(self.model, AnthropicJudge) else TokenUsage()

    @property
    def breaker(self) -> BreakerState | None:
        """The circuit breaker's state; ``None`` for a judge without one (offline)."""
        return self.model.breaker_state if isinstance(self.model, AnthropicJudge) else None

    async def aclose(self) -> None:
        if isinstance(self.model, AnthropicJudge):
            await self.model.aclose()


def sampling_config(settings: Settings) -> SamplingConfig:
    return SamplingConfig(every=settings.judge.sample_every, unit=settings.judge.sample_unit)


def judge_stack(settings: Settings, open_reader: Callable[[], Reader] | None = None) -> JudgeStack:
    """Build the configured judge. ``open_reader`` backs the verdict cache with the store
    (used for a paid judge only: the offline judge costs nothing to ask again)."""
    sampling = sampling_config(settings)
    model: OfflineJudge | AnthropicJudge
    if settings.judge.backend == "anthropic":
        if settings.anthropic.api_key is None:
            raise JudgeNotConfigured(
                "DOJO_JUDGE=anthropic needs an API key: set DOJO_ANTHROPIC_API_KEY "
                "(or ANTHROPIC_API_KEY)"
            )
        try:
            config = AnthropicJudgeConfig(
                api_key=settings.anthropic.api_key,
                model=settings.judge.model or DEFAULT_MODEL,
                base_url=settings.judge.base_url,
                timeout_s=settings.judge.timeout_s,
                concurrency=settings.judge.concurrency,
                retry=RetryConfig(max_attempts=settings.judge.max_attempts),
                breaker=BreakerConfig(
                    failure_threshold=settings.judge.breaker_failures,
                    cooldown_s=settings.judge.breaker_cooldown_s,
                ),
                spend_cap_usd=settings.judge.spend_cap_usd,
                sampling=sampling,
            )
        except ValueError as exc:
            raise JudgeNotConfigured(f"anthropic judge: {exc}") from None
        model = AnthropicJudge(config)
    else:
        model = OfflineJudge(sampling)
    hygiene = HygieneJudge(model, HygieneConfig(double_fraction=settings.judge.double_fraction))
    cache = StoreVerdictCache(open_reader if settings.judge.backend == "anthropic" else None)
    return JudgeStack(judge=CachedJudge(hygiene, cache), model=model, hygiene=hygiene, cache=cache)
