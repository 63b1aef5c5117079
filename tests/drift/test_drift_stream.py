"""The drift agent's logic (``streams.drift.Drift``) against the detector the benchmark runs.

The agent keeps pairs in a windowed table (Faust's window ranges) and closes
windows from a timer; the benchmark's ``GroupDetector`` keeps panes in memory
and closes on the watermark. Fed the same pairs, closing at the same times,
they must report the same windows and alerts — so ``python -m bench.drift``
measures what the stream computes. The Faust app around it is exercised by
``tests/streams/test_scoring_pipeline.py``.
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
from faust.windows import HoppingWindow, TumblingWindow

from dojo.drift import DriftConfig, GroupDetector, GroupKey, ScorePair, WindowConfig
from dojo.drift.models import DriftAlert as AlertReading
from dojo.drift.models import DriftWindow as WindowReading
from dojo.events import DriftAlert, DriftWindow, Event, Stamper
from streams.drift import Drift, PairMessage

GROUP = GroupKey(behaviour="B-08", episode_type="E-1.2")


class Outbox:
    def __init__(self, published: list[Event]) -> None:
        self.published = published
        self.pending: list[Event] = []

    def add(self, topic: object, event: Event) -> None:
        self.pending.append(event)

    async def deliver(self) -> int:
        self.published.extend(self.pending)
        sent, self.pending = len(self.pending), []
        return sent


class IO:
    """The parts of ``ScoringIO`` the drift agent uses."""

    def __init__(self) -> None:
        self.stamper = Stamper("test")
        self.published: list[Event] = []
        self.rejected: list[str] = []

    def outbox(self) -> Outbox:
        return Outbox(self.published)

    def reject(self, event: object, outbox: object, consumer: str, reason: str, kind: str) -> None:
        self.rejected.append(reason)


class WindowTable(dict[Any, Any]):
    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_drift(config: DriftConfig) -> tuple[Drift, IO, Clock]:
    w = config.window
    window = HoppingWindow(w.size_s, w.pane_s) if w.kind == "hopping" else TumblingWindow(w.size_s)
    io, clock = IO(), Clock()
    return Drift(io, config, WindowTable(window), {}, clock=clock), io, clock  # type: ignore[arg-type]


def message(pair: ScorePair) -> SimpleNamespace:
    body = PairMessage(
        pair_id=f"{pair.decision_id}#{pair.component}",
        judge_version="judge@1",
        reward_version="r-1",
        pair=pair,
    )
    raw = body.model_dump_json().encode()
    return SimpleNamespace(message=SimpleNamespace(value=raw, topic="pairs", partition=0, offset=0))


def stream(seed: int, windows: int, size: float, bias_from: int) -> list[ScorePair]:
    rng = random.Random(seed)
    pairs = []
    for w in range(windows):
        for i in range(40):
            quality = rng.betavariate(2, 2)
            heuristic = min(1.0, max(0.0, quality + rng.gauss(0, 0.1)))
            bias = 0.3 if w >= bias_from else 0.0
            judge = min(1.0, max(0.0, 0.05 + 0.9 * quality + rng.gauss(0, 0.1) + bias))
            pairs.append(
                ScorePair(
                    decision_id=f"d{w}-{i}",
                    episode_type="E-1.2",
                    component="B-08/comparison",
                    judge=judge,
                    heuristic=heuristic,
                    timestamp=w * size + (i + 0.5) * size / 40,
                )
            )
    return pairs


def summary(event: Any) -> tuple[Any, ...]:
    if isinstance(event, WindowReading):
        return ("window", event.window_start, event.n, event.rank_agreement, event.mean_residual,
                event.psi, event.ks, event.page_hinkley)  # fmt: skip
    if isinstance(event, AlertReading):
        return ("alert", event.check, event.window_start, event.value)
    if isinstance(event, DriftWindow):
        return ("window", event.window_start.timestamp(), event.n, event.agreement,
                event.mean_residual, event.psi, event.ks, event.page_hinkley)  # fmt: skip
    assert isinstance(event, DriftAlert)
    return ("alert", event.metric, event.window_start.timestamp(), event.value)


@pytest.mark.parametrize(
    "window",
    [
        WindowConfig(kind="tumbling", size_s=10.0, allowed_lateness_s=2.0),
        WindowConfig(kind="hopping", size_s=30.0, step_s=10.0, allowed_lateness_s=2.0),
    ],
)
async def test_the_stream_reports_what_the_benchmarked_detector_reports(
    window: WindowConfig,
) -> None:
    config = DriftConfig(window=window, reference_windows=3, reference_min_pairs=60)
    pairs = stream(seed=1, windows=14, size=window.pane_s, bias_from=9)

    detector = GroupDetector.new(config, GROUP)
    expected = [e for p in pairs for e in detector.observe(p)]
    expected += detector.advance_to(1e9)

    drift, io, clock = make_drift(config)
    for pair in pairs:
        await drift.process([message(pair)])  # type: ignore[list-item]
        clock.now = pair.timestamp
        await drift.close_due()
    clock.now = 1e9
    await drift.close_due()

    assert [summary(e) for e in io.published] == [summary(e) for e in expected]
    kinds = {type(e).__name__ for e in io.published}
    assert kinds == {"DriftWindow", "DriftAlert"}, "the planted bias must raise an alert"
    assert all(e.judge_version == "judge@1" and e.reward_version == "r-1" for e in io.published)  # type: ignore[attr-defined]
    assert drift.windows == {}  # every window closed and deleted


async def test_late_and_redelivered_pairs_are_not_counted() -> None:
    config = DriftConfig(window=WindowConfig(kind="tumbling", size_s=10.0))
    drift, io, clock = make_drift(config)
    pairs = stream(seed=2, windows=2, size=10.0, bias_from=99)
    first, second = pairs[:40], pairs[40:]
    await drift.process([message(p) for p in first + first[:5]])  # type: ignore[misc]
    assert drift.stats.pairs == 40 and drift.stats.duplicates == 5
    clock.now = 15.0
    assert await drift.close_due() == 1
    (window,) = io.published
    assert isinstance(window, DriftWindow) and window.n == 40
    await drift.process([message(p) for p in first[:3] + second])  # type: ignore[misc]
    assert drift.stats.late == 3  # their window has been reported
    clock.now = 25.0
    await drift.close_due()
    assert [e.n for e in io.published if isinstance(e, DriftWindow)] == [40, 40]


async def test_a_clean_shutdown_publishes_open_windows_but_keeps_them() -> None:
    config = DriftConfig(window=WindowConfig(kind="tumbling", size_s=10.0))
    drift, io, clock = make_drift(config)
    pairs = stream(seed=3, windows=1, size=10.0, bias_from=99)
    await drift.process([message(p) for p in pairs[:30]])  # type: ignore[misc]
    assert await drift.close_due(final=True) == 1
    partial = io.published[-1]
    assert isinstance(partial, DriftWindow) and partial.n == 30
    assert len(drift.windows) == 1  # kept: after a restart the window closes in full
    await drift.process([message(p) for p in pairs[30:]])  # type: ignore[misc]
    clock.now = 100.0
    await drift.close_due()
    full = io.published[-1]
    assert isinstance(full, DriftWindow) and full.n == 40
    assert full.event_id == partial.event_id  # same window, same id: the sink keeps one
