"""The drift agent: judge–heuristic calibration per window, on Faust windowed tables.

The judging agent publishes one pair per judge component it scored (the judge's
score and the heuristic score of the same behaviour, :mod:`dojo.drift.pairs`)
to the scoring app's internal ``drift-pairs`` topic, timed by the verdict. This
agent files each pair into a Faust windowed table (``.tumbling(size)`` or
``.hopping(size, step)`` per ``DOJO_DRIFT_WINDOW*``), keyed by the group —
judge version × reward version × behaviour × episode type — so each window row
holds that window's pairs (by pair id: a redelivered pair is not counted twice).
A second table holds each group's :class:`~dojo.drift.Calibration` state: the
reference, Page-Hinkley, which windows are closed. Both tables have changelogs:
a restarted worker recovers open windows and the reference alike.

Closing is this agent's, not Faust's: Faust closes windows by wall clock in a
sweep every 30 s and never closes a window it recovered from the changelog.
Here a timer closes, every second and in window order, each window whose end
lies ``DOJO_DRIFT_LATENESS_S`` in the past, computes its statistics with the
same :class:`~dojo.drift.Calibration` code the benchmark measures, publishes a
DriftWindow (and a DriftAlert for each check that trips), and only then deletes
the window. A Page-Hinkley alert is published as soon as its pair arrives. A
pair for a window already closed is dropped and counted (``late_dropped``).

At a clean shutdown, windows still open are published with the pairs they hold
so far, but kept in the tables: after a restart they close again with all
their pairs, and the idempotent sink keeps the first version of the window's
event (same id). The drift topic has one partition, so one worker holds all
groups.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from dojo.drift import Calibration, CalibrationState, DriftConfig, GroupKey, ScorePair, group_key
from dojo.drift.detector import Layout
from dojo.drift.models import DriftAlert as AlertReading
from dojo.drift.models import DriftWindow as WindowReading
from dojo.drift.pairs import score_pairs
from dojo.drift.windows import pane_of
from dojo.events import DecisionMade, DriftAlert, DriftWindow
from dojo.reward import RewardConfig
from dojo.topics import Topic
from streams.scoring_io import ScoringIO, batch_agent

log = logging.getLogger("streams.scoring.drift")

CONSUMER = "scoring-drift"
PAIRS_TOPIC = "drift-pairs"
WINDOWS_TABLE = "drift-windows"
STATE_TABLE = "drift-state"
CLOSE_EVERY_S = 1.0

#: (group name, (window start, Faust's window end)) -> {pair id: [judge, heuristic, time]}
WindowKey = tuple[str, tuple[float, float]]


class PairMessage(BaseModel):
    """One pair on the internal drift-pairs topic."""

    pair_id: str
    judge_version: str
    reward_version: str
    pair: ScorePair

    @property
    def key(self) -> bytes:
        return self.pair.component.encode()


def pair_messages(
    *,
    decision: DecisionMade,
    episode_type: str,
    scores: dict[str, float],
    timestamp: float,
    judge_version: str,
    reward: RewardConfig,
) -> list[PairMessage]:
    """The drift pairs of one canonical verdict."""
    return [
        PairMessage(
            pair_id=f"{pair.decision_id}#{pair.component}",
            judge_version=judge_version,
            reward_version=reward.reward_version,
            pair=pair,
        )
        for pair in score_pairs(
            decision_id=decision.decision_id,
            episode_type=episode_type,
            signals=decision.signals,
            judge_scores=scores,
            timestamp=timestamp,
            config=reward,
        )
    ]


class GroupRow(BaseModel):
    """A group's row of the state table."""

    judge_version: str
    reward_version: str
    calibration: CalibrationState


class DriftStats(BaseModel):
    pairs: int = 0
    duplicates: int = 0
    late: int = 0
    windows_closed: int = 0
    alerts: int = 0


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Drift:
    """The agent's logic, apart from Faust's wiring (see :func:`install`)."""

    def __init__(
        self,
        io: ScoringIO,
        config: DriftConfig,
        windows: Any,
        states: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.io = io
        self.clock = clock
        self.config = config
        self.windows = windows  # the Faust table behind the windowed wrapper
        self.states = states
        self.lock = asyncio.Lock()
        self.stats = DriftStats()

    # --- pairs in -----------------------------------------------------------------

    async def process(self, events: list[faust.EventT]) -> None:
        async with self.lock:
            outbox = self.io.outbox()
            rows: dict[str, GroupRow] = {}
            touched: dict[WindowKey, dict[str, list[float]]] = {}
            for event in events:
                raw = event.message.value
                try:
                    message = PairMessage.model_validate_json(
                        raw if isinstance(raw, bytes) else b""
                    )
                except ValidationError as exc:
                    self.io.reject(event, outbox, CONSUMER, f"not a drift pair: {exc}"[:500],
                                   "ValidationError")  # fmt: skip
                    continue
                alert = self._add(message, rows, touched)
                if alert is not None:
                    outbox.add(Topic.DRIFT, alert)
            await outbox.deliver()
            for key, pairs in touched.items():
                self.windows[key] = pairs
            for name, row in rows.items():
                self.states[name] = row.model_dump(mode="json")

    def _row(
        self, name: str, message: PairMessage, group: GroupKey, rows: dict[str, GroupRow]
    ) -> GroupRow:
        row = rows.get(name)
        if row is None:
            stored = self.states.get(name)
            row = (
                GroupRow.model_validate(stored)
                if stored is not None
                else GroupRow(
                    judge_version=message.judge_version,
                    reward_version=message.reward_version,
                    calibration=CalibrationState(group=group, layout=Layout.of(self.config)),
                )
            )
            rows[name] = row
        return row

    def _add(
        self,
        message: PairMessage,
        rows: dict[str, GroupRow],
        touched: dict[WindowKey, dict[str, list[float]]],
    ) -> DriftAlert | None:
        pair = message.pair
        group = group_key(pair, self.config)
        name = f"{message.judge_version}|{message.reward_version}|{group.name}"
        row = self._row(name, message, group, rows)
        calibration = Calibration(self.config, row.calibration)
        if calibration.is_late(pair.timestamp):
            self.stats.late += 1
            return None
        first_open = row.calibration.next_window
        ranges = [
            r
            for r in self.windows.window.ranges(pair.timestamp)
            if first_open is None or self._index(r[0]) >= first_open
        ]
        keys: list[WindowKey] = [(name, (float(r[0]), float(r[1]))) for r in ranges]
        for key in keys:
            if key not in touched:
                touched[key] = dict(self.windows.get(key) or {})
        if message.pair_id in touched[keys[-1]]:
            self.stats.duplicates += 1  # redelivered: filed already
            return None
        self.stats.pairs += 1
        for key in keys:
            touched[key][message.pair_id] = [pair.judge, pair.heuristic, pair.timestamp]
        reading = calibration.observe(pair)
        if reading is None:
            return None
        self.stats.alerts += 1
        return self._alert(reading, row, name)

    def _index(self, start: float) -> int:
        return round(start / self.config.window.pane_s)

    # --- windows out --------------------------------------------------------------

    async def close_due(self, *, final: bool = False) -> int:
        """Close every window that ended ``lateness`` ago (all of them when ``final``).

        ``final`` (a clean shutdown) publishes but keeps the tables as they are.
        Returns the number of windows closed.
        """
        async with self.lock:
            limit = math.inf if final else self.clock() - self.config.window.allowed_lateness_s
            size = self.config.window.size_s
            due: list[WindowKey] = sorted(
                (k for k in list(self.windows.keys()) if k[1][0] + size <= limit),
                key=lambda k: (k[1][0], k[0]),
            )
            if not due:
                return 0
            outbox = self.io.outbox()
            rows: dict[str, GroupRow] = {}
            for key in due:
                name, (start, _) = key
                stored = rows.get(name) or self.states.get(name)
                if stored is None:
                    continue  # a window whose group state is gone: nothing to compare with
                row = stored if isinstance(stored, GroupRow) else GroupRow.model_validate(stored)
                rows[name] = row
                index = self._index(start)
                if row.calibration.next_window is not None and index < row.calibration.next_window:
                    continue  # closed before (a stale row): nothing new to report
                values = sorted(self.windows[key].values(), key=lambda v: v[2])
                pairs = [(j, h) for j, h, _ in values]
                first_pane = [
                    (j, h) for j, h, t in values if pane_of(t, self.config.window) == index
                ]
                for reading in Calibration(self.config, row.calibration).close(
                    index, pairs, first_pane
                ):
                    if isinstance(reading, WindowReading):
                        outbox.add(Topic.DRIFT, self._window(reading, row, name))
                    else:
                        self.stats.alerts += 1
                        outbox.add(Topic.DRIFT, self._alert(reading, row, name))
            await outbox.deliver()
            if final:
                return len(due)
            for key in due:
                del self.windows[key]
            for name, row in rows.items():
                self.states[name] = row.model_dump(mode="json")
            self.stats.windows_closed += len(due)
            return len(due)

    def _window(self, reading: WindowReading, row: GroupRow, name: str) -> DriftWindow:
        group = reading.group
        return self.io.stamper.make(
            DriftWindow,
            (name, reading.window_kind, reading.window_start, reading.window_end),
            behaviour=group.component or group.behaviour,
            episode_type=group.episode_type,
            window_kind=reading.window_kind,
            window_start=_time(reading.window_start),
            window_end=_time(reading.window_end),
            reward_version=row.reward_version,
            judge_version=row.judge_version,
            n=reading.n,
            agreement=reading.rank_agreement,
            mean_residual=reading.mean_residual,
            psi=reading.psi,
            ks=reading.ks,
            page_hinkley=reading.page_hinkley,
        )

    def _alert(self, reading: AlertReading, row: GroupRow, name: str) -> DriftAlert:
        group = reading.group
        return self.io.stamper.make(
            DriftAlert,
            (name, reading.check, reading.window_start, reading.at),
            behaviour=group.component or group.behaviour,
            episode_type=group.episode_type,
            window_kind=self.config.window.kind,
            window_start=_time(reading.window_start),
            window_end=_time(reading.window_end),
            reward_version=row.reward_version,
            judge_version=row.judge_version,
            metric=reading.check,
            value=reading.value,
            threshold=reading.threshold,
            message=reading.message,
        )

    def open_windows(self) -> int:
        return len(list(self.windows.keys()))


def install(app: faust.App, io: ScoringIO, config: DriftConfig, pairs_topic: Any) -> Drift:
    """Register the drift agent, its two tables and its closing timer on ``app``."""
    table = app.Table(
        WINDOWS_TABLE,
        default=dict,
        partitions=1,
        use_partitioner=True,  # a one-partition changelog, written from a timer too
    )
    window = config.window
    windowed = (
        table.hopping(window.size_s, window.pane_s)
        if window.kind == "hopping"
        else table.tumbling(window.size_s)
    )
    states = app.Table(
        STATE_TABLE,
        default=None,
        partitions=1,
        use_partitioner=True,  # a one-partition changelog, written from a timer too
    )
    drift = Drift(io, config, windowed.table, states)
    batch_agent(app, io, pairs_topic, "drift", drift.process)

    @app.timer(CLOSE_EVERY_S)
    async def close_windows() -> None:
        await drift.close_due()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's stubs want a sync receiver
    async def flush_windows(app: faust.App, **kwargs: Any) -> None:
        closed = await drift.close_due(final=True)
        if closed:
            log.info("published %d drift windows still open at shutdown", closed)

    return drift
