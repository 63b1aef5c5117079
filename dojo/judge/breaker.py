"""A circuit breaker on top of the judge's retries.

Retries absorb a blip; when the service stays down, every request would still
spend its whole retry budget. After ``failure_threshold`` consecutive failed
requests the breaker opens and requests fail fast ("circuit open") for
``cooldown_s``; then one probe is let through (half-open): its success closes
the breaker, its failure opens it for another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BreakerStateName = Literal["closed", "open", "half_open"]


class BreakerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=60.0, gt=0)


class BreakerState(BaseModel):
    """A snapshot for the monitor."""

    model_config = ConfigDict(frozen=True)

    state: BreakerStateName
    consecutive_failures: int
    opened_at: float | None
    times_opened: int
    fast_failures: int


class CircuitBreaker:
    """Counts consecutive request failures; see the module docstring."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._state: BreakerStateName = "closed"
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self._times_opened = 0
        self._fast_failures = 0

    def allow(self) -> bool:
        """May a request go out now? Counts a refusal as a fast failure."""
        if self._state == "open":
            assert self._opened_at is not None
            if self._clock() - self._opened_at < self._config.cooldown_s:
                self._fast_failures += 1
                return False
            self._state = "half_open"
        if self._state == "half_open":
            if self._probe_in_flight:
                self._fast_failures += 1
                return False
            self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._state = "closed"
        self._consecutive_failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        if self._state == "half_open" or (
            self._state == "closed" and self._consecutive_failures >= self._config.failure_threshold
        ):
            self._open()
        self._probe_in_flight = False

    def record_abandoned(self) -> None:
        """The request was cancelled before an outcome: free the probe slot."""
        self._probe_in_flight = False

    def state(self) -> BreakerState:
        return BreakerState(
            state=self._state,
            consecutive_failures=self._consecutive_failures,
            opened_at=self._opened_at,
            times_opened=self._times_opened,
            fast_failures=self._fast_failures,
        )

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._times_opened += 1
