"""Every knob of the drift detector. The defaults are the ones ``bench.drift`` calibrated.

Calibration (``python -m bench.drift --json``: tumbling windows, Poisson(50)
pairs per window, judge and heuristic each reading a latent quality with 0.1
noise): on 10,000 stationary windows the defaults raised 0 alerts, no check
coming closer than 0.76 of its threshold; a +0.15 judge bias was caught after
1.06 windows on average over 300 trials (never more than 2), almost always by
Page-Hinkley. With 20 pairs per window the delay grows to about 2.3 windows:
PSI needs ``psi_min_pairs``, and Page-Hinkley, which works per pair, needs
about 40 biased pairs. Thresholds were set from the null distributions with
margin: KS at c = 2.6 (α ≈ 3e-6 per window), rank drop at 5 standard errors,
PSI at 0.9 with shares floored at 0.5 %, Page-Hinkley δ = 0.5 sd, λ = 16 sd.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_TOLERANCE = 1e-9


class WindowConfig(BaseModel):
    """Event-time windows: ``[start, start + size_s)``, start inclusive.

    Tumbling windows tile time; hopping windows of ``size_s`` start every
    ``step_s`` (``size_s`` must be a whole multiple of ``step_s``). A window
    closes once the group's watermark — the latest event time seen — passes its
    end by ``allowed_lateness_s``; a pair arriving for a closed window is
    dropped and counted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["tumbling", "hopping"] = "tumbling"
    size_s: float = Field(default=300.0, gt=0)
    step_s: float | None = Field(default=None, gt=0)
    allowed_lateness_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> WindowConfig:
        if self.kind == "tumbling" and self.step_s is not None and self.step_s != self.size_s:
            raise ValueError("tumbling windows take no step_s (or step_s == size_s)")
        if self.kind == "hopping":
            if self.step_s is None or self.step_s >= self.size_s:
                raise ValueError("hopping windows need 0 < step_s < size_s")
            ratio = self.size_s / self.step_s
            if abs(ratio - round(ratio)) > _TOLERANCE:
                raise ValueError(
                    f"size_s {self.size_s} is not a whole multiple of step_s {self.step_s}"
                )
        return self

    @property
    def pane_s(self) -> float:
        """The slice of time pairs are stored in; a window is ``panes`` consecutive panes."""
        return self.step_s if self.kind == "hopping" and self.step_s else self.size_s

    @property
    def panes(self) -> int:
        return round(self.size_s / self.pane_s)


class DriftThresholds(BaseModel):
    """The thresholds that ``DOJO_DRIFT_*`` variables may override, declared once for the
    detector (:class:`DriftConfig`) and the settings (:class:`DriftSettings`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    reference_windows: int = Field(default=5, ge=1)
    """the reference is the pairs of the first windows of time: at least this many windows,
    and more until it holds reference_min_pairs"""
    reference_min_pairs: int = Field(default=200, ge=10)
    """pairs the reference holds at the least"""
    min_pairs: int = Field(default=20, ge=4)
    """below this a window's rank, PSI and KS are not computed"""
    psi_threshold: float = Field(default=0.9, gt=0)
    """alert when a window's PSI against the reference exceeds this"""
    ks_coefficient: float = Field(default=2.6, gt=0)
    """alert when KS > c·sqrt((n+m)/(n·m)); 2.6 ≈ α = 3e-6"""
    rank_drop_z: float = Field(default=5.0, gt=0)
    """alert when rank agreement falls this many standard errors"""
    ph_threshold: float = Field(default=16.0, gt=0)
    """Page-Hinkley alarm level, in reference sd"""


class DriftConfig(DriftThresholds):
    """Windows, the reference, and every alert threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: WindowConfig = WindowConfig()
    group_by: Literal["behaviour", "component"] = "behaviour"
    """pool a behaviour's judge components into one stream, or keep each apart"""
    residual_bins: int = Field(default=200, ge=2)
    """fine bins on [-1, 1] for KS"""
    psi_bins: int = Field(default=10, ge=2)
    """coarse bins on [-1, 1] for PSI"""
    psi_epsilon: float = Field(default=0.005, gt=0, lt=1)
    """floor on bin shares: one stray value in a bin the reference left empty must not
    dominate PSI in a window of a few dozen pairs"""
    psi_min_pairs: int = Field(default=40, ge=4)
    """PSI over fixed bins is noise on a couple of dozen pairs: not computed below"""
    ph_delta: float = Field(default=0.5, ge=0)
    """Page-Hinkley tolerance, in reference sd"""
    ph_burn_in: int = Field(default=30, ge=1)
    sd_floor: float = Field(default=0.02, gt=0)
    """smallest residual sd used to standardise (a constant reference)"""

    @model_validator(mode="after")
    def _bins_nest(self) -> DriftConfig:
        if self.residual_bins % self.psi_bins:
            raise ValueError("psi_bins must divide residual_bins (PSI bins merge KS bins)")
        return self

    @property
    def version(self) -> str:
        """Content hash of the config: which thresholds produced a window or an alert."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _default_step(size: int) -> int:
    """The largest step that divides ``size`` into at least three panes (1 for a prime)."""
    return max(d for d in range(1, size // 3 + 1) if size % d == 0) if size >= 3 else 1


class DriftSettings(DriftThresholds):
    """The ``DOJO_DRIFT_*`` settings (``settings.drift``): the detector's thresholds, and
    the live windows."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    window: Literal["tumbling", "hopping"] = "tumbling"
    window_s: int = Field(default=30, ge=1)
    """drift window size, seconds"""
    step_s: int | None = Field(default=None, ge=1)
    """hopping step (divides the size); unset: a third of it"""
    lateness_s: float = Field(default=5.0, ge=0)
    """a window closes this long after its end"""

    def config(self) -> DriftConfig:
        """The detector's config: these windows and thresholds, the rest as calibrated."""
        step: float | None = None
        if self.window == "hopping":
            step = float(self.step_s or _default_step(self.window_s))
        try:
            window = WindowConfig(
                kind=self.window,
                size_s=float(self.window_s),
                step_s=step,
                allowed_lateness_s=self.lateness_s,
            )
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            raise ValueError(
                f"DOJO_DRIFT_WINDOW={self.window} DOJO_DRIFT_WINDOW_S="
                f"{self.window_s} DOJO_DRIFT_STEP_S={self.step_s}: {problem}"
            ) from None
        thresholds = self.model_dump(include=set(DriftThresholds.model_fields))
        return DriftConfig(window=window, **thresholds)
