"""Grading decisions on the judge (J) components of SPEC §3.

``OfflineJudge`` (default, heuristic, no network) and ``AnthropicJudge`` (Claude)
share one interface, :class:`Judge`; ``CachedJudge`` and ``HygieneJudge`` wrap
either. A failed judgement is a :class:`JudgeFailure`, never a number.

The intended stack, built from the inside out::

    claude = AnthropicJudge(AnthropicJudgeConfig(api_key=settings.anthropic.api_key))
    hygiene = HygieneJudge(claude, HygieneConfig())
    judge = CachedJudge(hygiene, verdict_cache)
    result = await judge_if_due(judge, request)  # None: not sampled
    # Verdict -> scores keyed "B-08/comparison"; JudgeFailure -> JudgeFailed event

The cache sits outside hygiene, so a replayed verdict brings its recorded
double judgement with it and pays for neither. ``claude.breaker_state``,
``claude.usage`` and ``hygiene.flips.counts`` are what a monitor reads.
"""

from dojo.judge.anthropic_judge import DEFAULT_MODEL, AnthropicJudge, AnthropicJudgeConfig
from dojo.judge.base import Judge, judge_if_due, version_of
from dojo.judge.breaker import BreakerConfig, BreakerState, CircuitBreaker
from dojo.judge.cache import CachedJudge, InMemoryVerdictCache, VerdictCache, VerdictKey
from dojo.judge.hygiene import FlipRate, FlipTracker, HygieneConfig, HygieneJudge
from dojo.judge.offline import OFFLINE_RUBRIC_VERSION, OfflineJudge
from dojo.judge.prompt import PROMPT_VERSION
from dojo.judge.redact import RedactingFilter, Redactor
from dojo.judge.request import JudgeRequest
from dojo.judge.result import (
    JudgeFailure,
    JudgeResult,
    Presentation,
    RepeatCheck,
    TokenUsage,
    Verdict,
    judge_version,
)
from dojo.judge.retry import RetryConfig
from dojo.judge.rubrics import JUDGE_COMPONENTS, RUBRIC_SET_VERSION, RUBRICS, component_keys
from dojo.judge.sampling import SamplingConfig
from dojo.judge.spend import DEFAULT_PRICES, Price

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRICES",
    "JUDGE_COMPONENTS",
    "OFFLINE_RUBRIC_VERSION",
    "PROMPT_VERSION",
    "RUBRICS",
    "RUBRIC_SET_VERSION",
    "AnthropicJudge",
    "AnthropicJudgeConfig",
    "BreakerConfig",
    "BreakerState",
    "CachedJudge",
    "CircuitBreaker",
    "FlipRate",
    "FlipTracker",
    "HygieneConfig",
    "HygieneJudge",
    "InMemoryVerdictCache",
    "Judge",
    "JudgeFailure",
    "JudgeRequest",
    "JudgeResult",
    "OfflineJudge",
    "Presentation",
    "Price",
    "RedactingFilter",
    "Redactor",
    "RepeatCheck",
    "RetryConfig",
    "SamplingConfig",
    "TokenUsage",
    "Verdict",
    "VerdictCache",
    "VerdictKey",
    "component_keys",
    "judge_if_due",
    "judge_version",
    "version_of",
]
