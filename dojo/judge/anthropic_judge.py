"""The Claude judge, on the official ``anthropic`` async client.

One request per decision: the fixed system prompt (every rubric) is marked for
prompt caching, the decision goes in the user message, and the answer must be a
JSON verdict (structured output) that :func:`~dojo.judge.prompt.parse_verdict`
validates. The SDK's own retries are off (``max_retries=0``): this module owns
the retry loop, so backoff, the attempt budget, the spend cap and the circuit
breaker all see every attempt.

The API key comes only from the config object (a ``SecretStr``); every error
text recorded or logged passes through a :class:`~dojo.judge.redact.Redactor`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anthropic
import httpx2
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from dojo.judge.breaker import BreakerConfig, BreakerState, CircuitBreaker
from dojo.judge.prompt import (
    PROMPT_VERSION,
    VERDICT_JSON_SCHEMA,
    MalformedVerdict,
    parse_verdict,
    system_prompt,
    user_message,
)
from dojo.judge.redact import Redactor, guard_loggers
from dojo.judge.request import JudgeRequest
from dojo.judge.result import JudgeFailure, Presentation, TokenUsage, Verdict
from dojo.judge.retry import RetryConfig, parse_retry_after
from dojo.judge.sampling import SamplingConfig
from dojo.judge.spend import DEFAULT_PRICES, Price, SpendMeter

DEFAULT_MODEL = "claude-opus-5-5"

# Status codes worth another attempt: timeout, conflict, rate limit, server side.
_RETRYABLE_STATUS = frozenset({408, 409, 429})

log = logging.getLogger("dojo.judge.anthropic")


class AnthropicJudgeConfig(BaseModel):
    """Everything the Claude judge needs; the API key is only ever held here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    max_tokens: int = Field(
        default=8192, ge=256, description="covers adaptive thinking plus the verdict"
    )
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    structured_output: bool = True
    timeout_s: float = Field(default=120.0, gt=0)
    concurrency: int = Field(default=4, ge=1)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    spend_cap_usd: float = Field(default=25.0, ge=0)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    sampling: SamplingConfig = SamplingConfig()
    seed: int = Field(default=0, description="seeds the backoff jitter")

    @model_validator(mode="after")
    def _priced(self) -> AnthropicJudgeConfig:
        if self.model not in self.prices:
            raise ValueError(
                f"no price for model {self.model!r}: the spend cap cannot be enforced; "
                f"add it to prices (known: {', '.join(sorted(self.prices))})"
            )
        return self


Sleep = Callable[[float], Awaitable[None]]


class _AttemptError(BaseModel):
    """Why one attempt failed, already redacted."""

    model_config = ConfigDict(frozen=True)

    description: str
    error_type: str
    retryable: bool
    retry_after: float | None = None


class AnthropicJudge:
    """Grades decisions with Claude. See the module docstring."""

    def __init__(
        self,
        config: AnthropicJudgeConfig,
        *,
        http_client: httpx2.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._redactor = Redactor(config.api_key)
        guard_loggers(self._redactor, ("anthropic", "httpx2", "dojo.judge"))
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key.get_secret_value(),
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_s,
            http_client=http_client,
        )
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._breaker = CircuitBreaker(config.breaker, clock=clock)
        self._spend = SpendMeter(config.spend_cap_usd, config.prices[config.model])
        self._sleep = sleep
        self._rng = random.Random(config.seed)
        self._system = [
            {"type": "text", "text": system_prompt(), "cache_control": {"type": "ephemeral"}}
        ]

    def __repr__(self) -> str:
        return f"AnthropicJudge(model={self._config.model!r}, rubric={PROMPT_VERSION})"

    @property
    def judge_model(self) -> str:
        return self._config.model

    @property
    def rubric_version(self) -> str:
        return PROMPT_VERSION

    @property
    def sampling(self) -> SamplingConfig:
        return self._config.sampling

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state()

    @property
    def usage(self) -> TokenUsage:
        """Everything this judge has spent so far in this run."""
        return self._spend.total

    async def aclose(self) -> None:
        await self._client.close()

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure:
        content_hash = request.content_hash()
        async with self._semaphore:
            if self._spend.exhausted:
                return self._failure(
                    content_hash, presentation, "spend cap reached", "SpendCapReached", 0
                )
            if not self._breaker.allow():
                return self._failure(content_hash, presentation, "circuit open", "CircuitOpen", 0)
            try:
                return await self._attempts(request, content_hash, presentation)
            except BaseException:
                self._breaker.record_abandoned()
                raise

    async def _attempts(
        self, request: JudgeRequest, content_hash: str, presentation: Presentation
    ) -> Verdict | JudgeFailure:
        retry = self._config.retry
        params = self._params(request, presentation)
        for attempt in range(1, retry.max_attempts + 1):
            if attempt > 1 and self._spend.exhausted:
                self._breaker.record_abandoned()
                return self._failure(
                    content_hash, presentation, "spend cap reached", "SpendCapReached", attempt - 1
                )
            try:
                message = await self._client.messages.create(**params)
            except Exception as exc:
                error = self._classify(exc)
            else:
                self._breaker.record_success()
                return self._read(message, request, content_hash, presentation, attempt)
            if not error.retryable or attempt == retry.max_attempts:
                self._breaker.record_failure()
                ending = "gave up" if error.retryable else "not retryable"
                return self._failure(
                    content_hash,
                    presentation,
                    f"{error.description}; {ending} after {attempt} attempt(s)",
                    error.error_type,
                    attempt,
                )
            delay = retry.delay(attempt, error.retry_after, self._rng)
            log.warning(
                "judge call failed (%s); retry %d of %d in %.2f s",
                error.description,
                attempt,
                retry.max_attempts - 1,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    def _params(self, request: JudgeRequest, presentation: Presentation) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self._config.model,
            "max_tokens": self._config.max_tokens,
            "system": self._system,
            "messages": [{"role": "user", "content": user_message(request, presentation)}],
        }
        output_config: dict[str, Any] = {}
        if self._config.structured_output:
            output_config["format"] = {"type": "json_schema", "schema": VERDICT_JSON_SCHEMA}
        if self._config.effort is not None:
            output_config["effort"] = self._config.effort
        if output_config:
            params["output_config"] = output_config
        return params

    def _classify(self, exc: Exception) -> _AttemptError:
        scrub = self._redactor.scrub
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            detail = exc.api_message or exc.type or ""
            return _AttemptError(
                description=scrub(f"HTTP {status}" + (f": {detail}" if detail else "")),
                error_type=type(exc).__name__,
                retryable=status in _RETRYABLE_STATUS or status >= 500,
                retry_after=parse_retry_after(dict(exc.response.headers)),
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return _AttemptError(
                description="request timed out", error_type=type(exc).__name__, retryable=True
            )
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            return _AttemptError(
                description=scrub(f"connection error: {str(cause)[:300]}"),
                error_type=type(exc).__name__,
                retryable=True,
            )
        # Anything else is a defect on our side or in the SDK: recorded, not retried.
        return _AttemptError(
            description=scrub(f"unexpected {type(exc).__name__}: {str(exc)[:300]}"),
            error_type=type(exc).__name__,
            retryable=False,
        )

    def _read(
        self,
        message: anthropic.types.Message,
        request: JudgeRequest,
        content_hash: str,
        presentation: Presentation,
        attempts: int,
    ) -> Verdict | JudgeFailure:
        u = message.usage
        usage = self._spend.record(
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cache_creation_input_tokens=u.cache_creation_input_tokens or 0,
            cache_read_input_tokens=u.cache_read_input_tokens or 0,
        )
        if message.stop_reason == "refusal":
            return self._failure(
                content_hash, presentation, "the judge refused", "Refusal", attempts, usage
            )
        if message.stop_reason == "max_tokens":
            return self._failure(
                content_hash,
                presentation,
                f"verdict cut off at max_tokens={self._config.max_tokens}",
                "Truncated",
                attempts,
                usage,
            )
        text = "".join(block.text for block in message.content if block.type == "text")
        try:
            parsed = parse_verdict(text, request.component_keys)
        except MalformedVerdict as exc:
            return self._failure(
                content_hash,
                presentation,
                self._redactor.scrub(f"malformed verdict: {exc}"),
                "MalformedVerdict",
                attempts,
                usage,
            )
        return Verdict(
            content_hash=content_hash,
            judge_model=self.judge_model,
            rubric_version=self.rubric_version,
            scores=parsed.scores,
            abstained=parsed.abstained,
            evidence={k: self._redactor.scrub(v) for k, v in parsed.evidence.items()},
            rationale=self._redactor.scrub(parsed.rationale),
            presentation=presentation,
            attempts=attempts,
            usage=usage,
        )

    def _failure(
        self,
        content_hash: str,
        presentation: Presentation,
        reason: str,
        error_type: str,
        attempts: int,
        usage: TokenUsage | None = None,
    ) -> JudgeFailure:
        return JudgeFailure(
            content_hash=content_hash,
            judge_model=self.judge_model,
            rubric_version=self.rubric_version,
            reason=self._redactor.scrub(reason),
            error_type=error_type,
            attempts=attempts,
            presentation=presentation,
            usage=usage,
        )
