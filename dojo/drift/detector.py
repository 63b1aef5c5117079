"""The calibration-drift detector: windows, a reference, four checks, alerts.

Per group (behaviour — or component — × episode type) it keeps pairs of
(judge, heuristic) scores in event-time panes. When a window closes it reports
its statistics (:class:`DriftWindow`): means, the mean residual (judge −
heuristic), Spearman rank agreement, and — once the reference is complete —
PSI and KS of the residual distribution against the reference and the drop of
rank agreement in standard errors. The first ``reference_windows`` windows of
time form the reference.

Alerts (:class:`DriftAlert`):

* ``psi``, ``ks``, ``rank_agreement`` — at window close, when the check trips
  and did not trip in the group's previous evaluated window (an alert marks an
  onset; the windows keep reporting while drift lasts);
* ``page_hinkley`` — per pair, as soon as the sequential test on the
  standardised residual fires (see :mod:`dojo.drift.page_hinkley`).

All state is a pydantic model of plain numbers, lists and dicts, so
:meth:`GroupDetector.to_state` / :meth:`GroupDetector.from_state` round-trip it
through JSON (a Faust table row per group).

Two layers: :class:`Calibration` is everything but the storage of pairs — the
reference, the checks, Page-Hinkley, which windows are closed — and
:class:`GroupDetector` adds in-memory panes to it. The stream processor
(``streams.drift``) keeps the pairs in a Faust windowed table instead and
drives the same :class:`Calibration`, so the benchmark (``bench.drift``), which
runs :class:`GroupDetector`, measures the statistics the stream computes.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from dojo.drift.config import DriftConfig
from dojo.drift.models import Check, DriftAlert, DriftEvent, DriftWindow, GroupKey, ScorePair
from dojo.drift.page_hinkley import PageHinkley
from dojo.drift.stats import (
    coarsen,
    histogram,
    ks_critical,
    ks_from_counts,
    mean,
    psi,
    sample_sd,
    spearman,
    spearman_drop_z,
)
from dojo.drift.windows import first_open_window, pane_of, window_bounds, windows_of

Pair = tuple[float, float]


class ReferenceSummary(BaseModel):
    """What the checks compare against: the reference residuals, summarised."""

    n: int
    mean: float
    sd: float
    spearman: float | None
    counts: list[int] = Field(description="residual histogram on the fine bins")


class Layout(BaseModel):
    """The parts of the config the stored state depends on; they must not change under it."""

    window_kind: str
    size_s: float
    pane_s: float
    residual_bins: int

    @classmethod
    def of(cls, config: DriftConfig) -> Layout:
        return cls(
            window_kind=config.window.kind,
            size_s=config.window.size_s,
            pane_s=config.window.pane_s,
            residual_bins=config.residual_bins,
        )


class CalibrationState(BaseModel):
    """Everything a group's calibration remembers, apart from the pairs of open windows."""

    group: GroupKey
    layout: Layout
    next_window: int | None = Field(default=None, description="first window not yet closed")
    alarm_panes: dict[int, int] = Field(default_factory=dict)
    reference_pairs: list[Pair] = Field(default_factory=list)
    reference_panes: int = 0
    reference: ReferenceSummary | None = None
    page_hinkley: PageHinkley = Field(default_factory=PageHinkley)
    tripped: list[Check] = Field(default_factory=list)
    late_dropped: int = 0


class GroupState(CalibrationState):
    """A :class:`CalibrationState` plus the watermark and the pairs of the open panes."""

    watermark: float | None = None
    panes: dict[int, list[Pair]] = Field(default_factory=dict)


def group_key(pair: ScorePair, config: DriftConfig) -> GroupKey:
    component = pair.component if config.group_by == "component" else None
    return GroupKey(behaviour=pair.behaviour, component=component, episode_type=pair.episode_type)


def _check_layout(config: DriftConfig, state: CalibrationState) -> None:
    if state.layout != Layout.of(config):
        raise ValueError(
            f"stored drift state of {state.group.name} was built with {state.layout}, "
            f"the config now says {Layout.of(config)}: windows and bins cannot change "
            "under existing state"
        )


class Calibration:
    """One group's reference, checks and sequential test, over windows stored elsewhere.

    The caller stores each pair in every still-open window that contains it and,
    in window order, hands each window's pairs to :meth:`close`. Window ``w``
    is ``[w·pane_s, w·pane_s + size_s)``; its first pane is the slice
    ``[w·pane_s, (w + 1)·pane_s)``, which :meth:`close` retires into the
    reference while the reference is still forming (so each pair counts once,
    however many hopping windows held it).
    """

    def __init__(self, config: DriftConfig, state: CalibrationState) -> None:
        _check_layout(config, state)
        self.config = config
        self.state = state

    def is_late(self, timestamp: float) -> bool:
        """True (and counted) when every window that could hold ``timestamp`` is closed."""
        s = self.state
        if s.next_window is not None and pane_of(timestamp, self.config.window) < s.next_window:
            s.late_dropped += 1
            return True
        return False

    def open_windows(self, timestamp: float) -> range:
        """The windows holding ``timestamp`` that are not closed yet."""
        windows = windows_of(timestamp, self.config.window)
        first = windows.start if self.state.next_window is None else self.state.next_window
        return range(max(windows.start, first), windows.stop)

    def observe(self, pair: ScorePair) -> DriftAlert | None:
        """The sequential test on one pair that is not late (it needs the reference)."""
        ref = self.state.reference
        if ref is None:
            return None
        return self._page_hinkley(pair, pane_of(pair.timestamp, self.config.window), ref)

    def close(self, index: int, pairs: list[Pair], first_pane: list[Pair]) -> list[DriftEvent]:
        """Close window ``index`` holding ``pairs``; ``first_pane`` are those of its first pane.

        Returns the window's statistics (none for an empty window) and the alerts
        it trips. Windows must be closed in ascending order.
        """
        s = self.state
        events = self._close(index, pairs) if pairs else []
        s.alarm_panes.pop(index, None)
        if s.reference is None:
            self._retire(first_pane)
        s.next_window = index + 1
        return events

    def _retire(self, pairs: list[Pair]) -> None:
        s, c = self.state, self.config
        s.reference_pairs.extend(pairs)
        s.reference_panes += 1
        if (
            s.reference_panes >= c.reference_windows * c.window.panes
            and len(s.reference_pairs) >= c.reference_min_pairs
        ):
            s.reference = _summarise(s.reference_pairs, c.residual_bins)
            s.reference_pairs = []

    def _close(self, index: int, pairs: list[Pair]) -> list[DriftEvent]:
        s, c = self.state, self.config
        k = c.window.panes
        start, end = window_bounds(index, c.window)
        judge = [j for j, _ in pairs]
        heuristic = [h for _, h in pairs]
        residuals = [j - h for j, h in pairs]
        n = len(pairs)
        rank = spearman(judge, heuristic) if n >= c.min_pairs else None
        ref = s.reference
        psi_value = ks_value = ks_limit = drop = None
        if ref is not None and n >= c.min_pairs:
            counts = histogram(residuals, c.residual_bins)
            ks_value = ks_from_counts(counts, ref.counts)
            ks_limit = ks_critical(n, ref.n, c.ks_coefficient)
            if n >= c.psi_min_pairs:
                factor = c.residual_bins // c.psi_bins
                psi_value = psi(coarsen(counts, factor), coarsen(ref.counts, factor), c.psi_epsilon)
            if rank is not None and ref.spearman is not None:
                drop = spearman_drop_z(ref.spearman, ref.n, rank, n)

        evaluated: dict[Check, bool] = {}
        if psi_value is not None:
            evaluated["psi"] = psi_value > c.psi_threshold
        if ks_value is not None and ks_limit is not None:
            evaluated["ks"] = ks_value > ks_limit
        if drop is not None:
            evaluated["rank_agreement"] = drop > c.rank_drop_z
        tripped = [check for check, fired in evaluated.items() if fired]
        alerts = [
            self._window_alert(check, start, end, psi_value, ks_value, ks_limit, drop)
            for check in tripped
            if check not in s.tripped
        ]
        # A check this window could not evaluate keeps its previous state.
        s.tripped = [t for t in s.tripped if t not in evaluated] + tripped
        alarms = sum(s.alarm_panes.get(p, 0) for p in range(index, index + k))
        late, s.late_dropped = s.late_dropped, 0
        window = DriftWindow(
            group=s.group,
            window_kind=c.window.kind,
            window_start=start,
            window_end=end,
            n=n,
            judge_mean=mean(judge),
            heuristic_mean=mean(heuristic),
            mean_residual=mean(residuals),
            residual_sd=sample_sd(residuals),
            rank_agreement=rank,
            reference_ready=ref is not None,
            psi=psi_value,
            ks=ks_value,
            ks_critical=ks_limit,
            rank_drop_z=drop,
            page_hinkley=s.page_hinkley.statistic if ref is not None else None,
            page_hinkley_alarms=alarms,
            tripped=(("page_hinkley",) if alarms else ()) + tuple(tripped),
            late_dropped=late,
            config_version=c.version,
        )
        return [window, *alerts]

    def _window_alert(
        self,
        check: Check,
        start: float,
        end: float,
        psi_value: float | None,
        ks_value: float | None,
        ks_limit: float | None,
        drop: float | None,
    ) -> DriftAlert:
        c = self.config
        readings: dict[str, tuple[float | None, float | None, str]] = {
            "psi": (psi_value, c.psi_threshold, "residual distribution shifted (PSI)"),
            "ks": (ks_value, ks_limit, "residual distribution shifted (KS)"),
            "rank_agreement": (drop, c.rank_drop_z, "judge–heuristic rank agreement fell"),
        }
        value, threshold, what = readings[check]
        assert value is not None and threshold is not None
        return DriftAlert(
            group=self.state.group,
            check=check,
            value=value,
            threshold=threshold,
            window_start=start,
            window_end=end,
            at=end,
            message=f"{self.state.group.name}: {what}: {value:.3f} > {threshold:.3f}",
            config_version=c.version,
        )

    def _page_hinkley(self, pair: ScorePair, pane: int, ref: ReferenceSummary) -> DriftAlert | None:
        s, c = self.state, self.config
        z = (pair.residual - ref.mean) / max(ref.sd, c.sd_floor)
        alarm = s.page_hinkley.update(z, c.ph_delta, c.ph_threshold, c.ph_burn_in)
        if alarm is None:
            return None
        s.alarm_panes[pane] = s.alarm_panes.get(pane, 0) + 1
        # The first still-open window holding this pair.
        index = windows_of(pair.timestamp, c.window).start
        if s.next_window is not None:
            index = max(index, s.next_window)
        start, end = window_bounds(index, c.window)
        side = "above" if alarm.direction == "up" else "below"
        return DriftAlert(
            group=s.group,
            check="page_hinkley",
            value=alarm.statistic,
            threshold=c.ph_threshold,
            direction=alarm.direction,
            window_start=start,
            window_end=end,
            at=pair.timestamp,
            message=(
                f"{s.group.name}: the judge drifted {side} the heuristic "
                f"(Page-Hinkley {alarm.statistic:.1f} sd > {c.ph_threshold:g})"
            ),
            config_version=c.version,
        )


class GroupDetector:
    """Drift detection for one group, pairs kept in memory; see the module docstring."""

    def __init__(self, config: DriftConfig, state: GroupState) -> None:
        self.calibration = Calibration(config, state)
        self.config = config
        self.state = state

    @classmethod
    def new(cls, config: DriftConfig, group: GroupKey) -> GroupDetector:
        return cls(config, GroupState(group=group, layout=Layout.of(config)))

    @classmethod
    def from_state(cls, config: DriftConfig, data: dict[str, Any]) -> GroupDetector:
        return cls(config, GroupState.model_validate(data))

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return self.state.model_dump(mode="json")

    def observe(self, pair: ScorePair) -> list[DriftEvent]:
        """Add one pair; returns the alerts and closed windows it caused."""
        if self.calibration.is_late(pair.timestamp):
            return []  # every window that could hold it has been reported
        pane = pane_of(pair.timestamp, self.config.window)
        self.state.panes.setdefault(pane, []).append((pair.judge, pair.heuristic))
        events: list[DriftEvent] = []
        alert = self.calibration.observe(pair)
        if alert is not None:
            events.append(alert)
        events += self.advance_to(pair.timestamp)
        return events

    def advance_to(self, timestamp: float) -> list[DriftEvent]:
        """Move the watermark to ``timestamp`` (if later) and close the windows now due."""
        s = self.state
        s.watermark = timestamp if s.watermark is None else max(s.watermark, timestamp)
        return self._close_until(s.watermark - self.config.window.allowed_lateness_s)

    def flush(self) -> list[DriftEvent]:
        """Close every open window (end of the stream)."""
        return self._close_until(math.inf)

    def _close_until(self, limit: float) -> list[DriftEvent]:
        s, k = self.state, self.config.window.panes
        events: list[DriftEvent] = []
        while s.panes:
            lowest = min(s.panes)
            index = s.next_window
            if index is None or lowest > index + k - 1:
                index = lowest - k + 1  # skip windows that would be empty
            if window_bounds(index, self.config.window)[1] > limit:
                break
            pairs = [pair for p in range(index, index + k) for pair in s.panes.get(p, ())]
            events += self.calibration.close(index, pairs, s.panes.pop(index, []))
        if not s.panes and s.next_window is not None and math.isfinite(limit):
            s.next_window = max(s.next_window, first_open_window(limit, self.config.window))
        return events


def _summarise(pairs: list[Pair], bins: int) -> ReferenceSummary:
    residuals = [j - h for j, h in pairs]
    return ReferenceSummary(
        n=len(pairs),
        mean=mean(residuals),
        sd=sample_sd(residuals) or 0.0,
        spearman=spearman([j for j, _ in pairs], [h for _, h in pairs]),
        counts=histogram(residuals, bins),
    )


class DriftDetector:
    """Every group's detector together, for callers that hold all state in one place."""

    def __init__(self, config: DriftConfig, groups: dict[str, GroupDetector] | None = None) -> None:
        self.config = config
        self.groups: dict[str, GroupDetector] = groups or {}

    def observe(self, pair: ScorePair) -> list[DriftEvent]:
        key = group_key(pair, self.config)
        detector = self.groups.get(key.name)
        if detector is None:
            detector = self.groups[key.name] = GroupDetector.new(self.config, key)
        return detector.observe(pair)

    def advance_to(self, timestamp: float) -> list[DriftEvent]:
        return [e for name in sorted(self.groups) for e in self.groups[name].advance_to(timestamp)]

    def flush(self) -> list[DriftEvent]:
        return [e for name in sorted(self.groups) for e in self.groups[name].flush()]

    def to_state(self) -> dict[str, Any]:
        return {name: g.to_state() for name, g in sorted(self.groups.items())}

    @classmethod
    def from_state(cls, config: DriftConfig, data: dict[str, Any]) -> DriftDetector:
        return cls(config, {name: GroupDetector.from_state(config, d) for name, d in data.items()})
