"""Page-Hinkley: a sequential test for a change in the mean of a stream.

Why Page-Hinkley rather than ADWIN: its whole state is six numbers, so it
serialises into a Faust table row trivially and its cost per observation is
constant; ADWIN keeps a bucket structure whose size grows with the stream. What
we look for — the judge starting to score systematically above or below the
heuristic — is a shift in the residual's mean, which is exactly what PH tests.

Two-sided form, on observations ``x`` already standardised (residual divided by
the reference residual's standard deviation, so ``delta`` and ``threshold`` are
in standard deviations and mean the same for every behaviour):

    mean_t  = running mean of x_1..x_t
    up_t    = Σ (x_i − mean_i − delta)        alarm "up"   when up_t − min(up) > threshold
    down_t  = Σ (x_i − mean_i + delta)        alarm "down" when max(down) − down_t > threshold

``delta`` is the drift tolerated (half the smallest shift worth catching is the
usual choice); ``threshold`` trades false alarms against delay. After an alarm
the test restarts; its first ``burn_in`` observations only set the running
mean, so the sums do not start from a mean that is still noise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Direction = Literal["up", "down"]


class Alarm(BaseModel):
    model_config = ConfigDict(frozen=True)

    direction: Direction
    statistic: float


class PageHinkley(BaseModel):
    """The test's state; a plain model, so it round-trips through JSON."""

    n: int = 0
    mean: float = 0.0
    up: float = 0.0
    up_min: float = 0.0
    down: float = 0.0
    down_max: float = 0.0

    @property
    def statistic(self) -> float:
        """The larger of the two excursions; an alarm fires when it passes the threshold."""
        return max(self.up - self.up_min, self.down_max - self.down)

    def update(self, x: float, delta: float, threshold: float, burn_in: int) -> Alarm | None:
        """Feed one observation; on an alarm, returns it and restarts the test."""
        self.n += 1
        self.mean += (x - self.mean) / self.n
        if self.n <= burn_in:
            return None  # the running mean is still settling; sums would carry its noise
        self.up += x - self.mean - delta
        self.up_min = min(self.up_min, self.up)
        self.down += x - self.mean + delta
        self.down_max = max(self.down_max, self.down)
        alarm: Alarm | None = None
        if self.up - self.up_min > threshold:
            alarm = Alarm(direction="up", statistic=self.up - self.up_min)
        elif self.down_max - self.down > threshold:
            alarm = Alarm(direction="down", statistic=self.down_max - self.down)
        if alarm is not None:
            self.reset()
        return alarm

    def reset(self) -> None:
        self.n, self.mean = 0, 0.0
        self.up = self.up_min = self.down = self.down_max = 0.0
