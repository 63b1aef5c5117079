"""Exponential backoff with jitter, honouring the server's ``retry-after``."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RetryConfig(BaseModel):
    """How often and how patiently one request is retried.

    The delay before retry ``n`` (1-based) is ``base_delay_s * 2**(n-1)``, capped
    at ``max_delay_s``, scaled by a random factor in ``[1 - jitter, 1]`` so that
    concurrent requests do not retry in lockstep. A ``retry-after`` from the
    server replaces it (capped at ``max_retry_after_s``): the server knows when
    capacity returns.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(
        default=5, ge=1, description="attempts per request, the first included"
    )
    base_delay_s: float = Field(default=1.0, ge=0)
    max_delay_s: float = Field(default=30.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1)
    max_retry_after_s: float = Field(default=120.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")
        return self

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        backoff = min(self.base_delay_s * 2 ** (retry - 1), self.max_delay_s)
        return backoff * (1.0 - self.jitter * rng.random())


def parse_retry_after(headers: dict[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds); ``None`` if absent or unreadable.

    An HTTP-date ``retry-after`` is read as absent: the backoff then applies.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            continue
    return None
