"""Window assignment and closing: tumbling and hopping edges, lateness, gaps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dojo.drift import (
    DriftConfig,
    DriftEvent,
    DriftWindow,
    GroupDetector,
    GroupKey,
    ScorePair,
    WindowConfig,
)
from dojo.drift.windows import first_open_window, pane_of, window_bounds, windows_of

TUMBLING = WindowConfig(kind="tumbling", size_s=300.0)
HOPPING = WindowConfig(kind="hopping", size_s=300.0, step_s=100.0)
GROUP = GroupKey(behaviour="B-01", episode_type="E-1.1")


def test_tumbling_windows_are_start_inclusive_end_exclusive() -> None:
    assert pane_of(0.0, TUMBLING) == 0
    assert pane_of(299.999, TUMBLING) == 0
    assert pane_of(300.0, TUMBLING) == 1
    assert list(windows_of(300.0, TUMBLING)) == [1]
    assert window_bounds(1, TUMBLING) == (300.0, 600.0)
    assert pane_of(-0.5, TUMBLING) == -1


def test_hopping_windows_hold_each_time_in_size_over_step_windows() -> None:
    assert list(windows_of(250.0, HOPPING)) == [0, 1, 2]
    assert [window_bounds(w, HOPPING) for w in windows_of(300.0, HOPPING)] == [
        (100.0, 400.0),
        (200.0, 500.0),
        (300.0, 600.0),
    ]


def test_times_exactly_on_an_edge_survive_float_division() -> None:
    fine = WindowConfig(kind="tumbling", size_s=0.1)
    assert pane_of(0.3, fine) == 3  # 0.3 / 0.1 = 2.9999999999999996 unrounded


def test_first_open_window() -> None:
    assert first_open_window(600.0, TUMBLING) == 2  # window 1 ends at 600: closable
    assert first_open_window(599.0, TUMBLING) == 1
    assert first_open_window(600.0, HOPPING) == 4  # [300, 600) closable, [400, 700) not


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "hopping", "size_s": 300.0},
        {"kind": "hopping", "size_s": 300.0, "step_s": 300.0},
        {"kind": "hopping", "size_s": 300.0, "step_s": 70.0},
        {"kind": "tumbling", "size_s": 300.0, "step_s": 100.0},
    ],
)
def test_inconsistent_windows_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WindowConfig.model_validate(bad)


def test_psi_bins_must_nest_in_residual_bins() -> None:
    with pytest.raises(ValidationError, match="psi_bins"):
        DriftConfig(residual_bins=200, psi_bins=30)


def pair(t: float, judge: float = 0.6, heuristic: float = 0.5) -> ScorePair:
    return ScorePair(
        decision_id=f"d{t}",
        episode_type="E-1.1",
        component="B-01/question_specificity",
        judge=judge,
        heuristic=heuristic,
        timestamp=t,
    )


def windows(events: list[DriftEvent]) -> list[DriftWindow]:
    return [e for e in events if isinstance(e, DriftWindow)]


def detector(window: WindowConfig) -> GroupDetector:
    return GroupDetector.new(DriftConfig(window=window), GROUP)


def test_tumbling_window_closes_when_the_watermark_reaches_its_end() -> None:
    det = detector(WindowConfig(kind="tumbling", size_s=10.0))
    assert windows([e for t in range(10) for e in det.observe(pair(float(t)))]) == []
    closed = windows(det.observe(pair(10.0)))
    assert [(w.window_start, w.window_end, w.n) for w in closed] == [(0.0, 10.0, 10)]
    assert closed[0].mean_residual == pytest.approx(0.1)


def test_late_pairs_are_dropped_and_counted_unless_within_lateness() -> None:
    strict = detector(WindowConfig(kind="tumbling", size_s=10.0))
    for t in (1.0, 12.0):
        strict.observe(pair(t))
    assert strict.observe(pair(5.0)) == []  # window [0, 10) already reported
    (window,) = windows(strict.flush())
    assert window.n == 1 and window.late_dropped == 1

    lenient = detector(WindowConfig(kind="tumbling", size_s=10.0, allowed_lateness_s=5.0))
    for t in (1.0, 12.0, 5.0):  # 12 − 5 < 10: [0, 10) still open when 5.0 arrives
        lenient.observe(pair(t))
    closed = windows(lenient.observe(pair(15.0)))
    assert [(w.window_start, w.n, w.late_dropped) for w in closed] == [(0.0, 2, 0)]


def test_out_of_order_pairs_before_the_first_close_are_kept() -> None:
    det = detector(WindowConfig(kind="tumbling", size_s=10.0, allowed_lateness_s=20.0))
    for t in (15.0, 3.0, 25.0):
        det.observe(pair(t))
    assert [(w.window_start, w.n) for w in windows(det.flush())] == [(0.0, 1), (10.0, 1), (20.0, 1)]


def test_hopping_windows_share_pairs_and_start_before_the_stream() -> None:
    det = detector(WindowConfig(kind="hopping", size_s=10.0, step_s=5.0))
    events = [e for t in range(30) for e in det.observe(pair(float(t)))] + det.flush()
    assert [(w.window_start, w.n) for w in windows(events)] == [
        (-5.0, 5),
        (0.0, 10),
        (5.0, 10),
        (10.0, 10),
        (15.0, 10),
        (20.0, 10),
        (25.0, 5),
    ]


def test_empty_stretches_produce_no_windows() -> None:
    det = detector(WindowConfig(kind="tumbling", size_s=10.0))
    events = det.observe(pair(1.0)) + det.observe(pair(1001.0)) + det.flush()
    assert [w.window_start for w in windows(events)] == [0.0, 1000.0]
    assert det.observe(pair(500.0)) == []  # between them, long closed
    assert det.state.late_dropped == 1
