"""The detector end to end: reference, alerts on planted shifts, quiet on stationary data, state."""

from __future__ import annotations

import json
import random

import pytest

from dojo.drift import (
    DriftAlert,
    DriftConfig,
    DriftDetector,
    DriftEvent,
    DriftWindow,
    GroupDetector,
    GroupKey,
    ScorePair,
    WindowConfig,
)

CONFIG = DriftConfig(window=WindowConfig(kind="tumbling", size_s=60.0))
GROUP = GroupKey(behaviour="B-08", episode_type="E-1.2")


def clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def stream(
    seed: int,
    windows: int,
    *,
    bias_from: int | None = None,
    bias: float = 0.0,
    scramble_from: int | None = None,
    noise_from: int | None = None,
    per_window: int = 50,
    component: str = "B-08/comparison",
) -> list[ScorePair]:
    """Judge and heuristic read one latent quality, each with noise; changes are planted."""
    rng = random.Random(seed)
    pairs = []
    for w in range(windows):
        for i in range(per_window):
            quality = rng.betavariate(2, 2)
            heuristic = clip(quality + rng.gauss(0, 0.1))
            judge_sees = quality
            if scramble_from is not None and w >= scramble_from:
                judge_sees = rng.betavariate(2, 2)  # the judge stops tracking the decision
            noise = 0.35 if noise_from is not None and w >= noise_from else 0.1
            shift = bias if bias_from is not None and w >= bias_from else 0.0
            judge = clip(0.05 + 0.9 * judge_sees + rng.gauss(0, noise) + shift)
            t = w * 60.0 + (i + 0.5) * 60.0 / per_window
            pairs.append(
                ScorePair(
                    decision_id=f"{w}-{i}",
                    episode_type="E-1.2",
                    component=component,
                    judge=judge,
                    heuristic=heuristic,
                    timestamp=t,
                )
            )
    return pairs


def run(pairs: list[ScorePair], config: DriftConfig = CONFIG) -> list[DriftEvent]:
    detector = GroupDetector.new(config, GROUP)
    return [e for p in pairs for e in detector.observe(p)] + detector.flush()


def alerts(events: list[DriftEvent]) -> list[DriftAlert]:
    return [e for e in events if isinstance(e, DriftAlert)]


def window_of(alert: DriftAlert) -> int:
    return round(alert.window_start / 60.0)


def test_no_alert_on_a_stationary_stream() -> None:
    events = run(stream(seed=1, windows=300))
    assert alerts(events) == []
    windows = [e for e in events if isinstance(e, DriftWindow)]
    assert len(windows) == 300
    assert all(not w.tripped for w in windows)


def test_reference_forms_first_and_then_the_checks_run() -> None:
    windows = [e for e in run(stream(seed=2, windows=8)) if isinstance(e, DriftWindow)]
    assert [w.reference_ready for w in windows] == [False] * 5 + [True] * 3
    assert all(w.psi is None and w.ks is None for w in windows[:5])
    assert all(w.psi is not None and w.ks is not None for w in windows[5:])
    assert all(w.rank_agreement is not None and w.rank_agreement > 0.6 for w in windows)


def test_a_planted_bias_is_caught_promptly_by_page_hinkley() -> None:
    events = run(stream(seed=3, windows=40, bias_from=20, bias=0.15))
    found = alerts(events)
    assert found, "a +0.15 judge bias must raise an alert"
    first = found[0]
    assert first.check == "page_hinkley" and first.direction == "up"
    assert 20 <= window_of(first) <= 22
    windows = [e for e in events if isinstance(e, DriftWindow)]
    assert windows[25].mean_residual - windows[15].mean_residual == pytest.approx(0.15, abs=0.05)
    assert windows[window_of(first)].page_hinkley_alarms >= 1


def test_a_negative_bias_alarms_downwards() -> None:
    found = alerts(run(stream(seed=4, windows=40, bias_from=20, bias=-0.15)))
    assert found and found[0].direction == "down" and window_of(found[0]) >= 20


def test_a_judge_that_stops_tracking_quality_loses_rank_agreement() -> None:
    found = alerts(run(stream(seed=5, windows=30, scramble_from=15)))
    rank = [a for a in found if a.check == "rank_agreement"]
    assert rank and window_of(rank[0]) == 15
    assert rank[0].value > CONFIG.rank_drop_z


def test_a_noisier_judge_shifts_the_residual_distribution() -> None:
    found = alerts(run(stream(seed=6, windows=30, noise_from=15)))
    shape = [a for a in found if a.check in ("ks", "psi")]
    assert shape and 15 <= min(window_of(a) for a in shape) <= 17
    assert all(window_of(a) >= 15 for a in found)


def test_window_alerts_mark_the_onset_not_every_drifted_window() -> None:
    events = run(stream(seed=7, windows=40, scramble_from=15))
    rank_alerts = [a for a in alerts(events) if a.check == "rank_agreement"]
    drifted = [e for e in events if isinstance(e, DriftWindow) and "rank_agreement" in e.tripped]
    assert len(drifted) >= 20 and len(rank_alerts) < len(drifted) / 4


def test_state_round_trips_through_json_mid_stream() -> None:
    pairs = stream(seed=8, windows=40, bias_from=25, bias=0.15)
    whole = run(pairs)

    first = GroupDetector.new(CONFIG, GROUP)
    events = [e for p in pairs[:1234] for e in first.observe(p)]
    saved = json.loads(json.dumps(first.to_state()))
    second = GroupDetector.from_state(CONFIG, saved)
    events += [e for p in pairs[1234:] for e in second.observe(p)] + second.flush()

    assert events == whole
    assert second.to_state() == GroupDetector.from_state(CONFIG, second.to_state()).to_state()


def test_state_refuses_a_changed_window_layout() -> None:
    det = GroupDetector.new(CONFIG, GROUP)
    det.observe(stream(seed=9, windows=1)[0])
    other = DriftConfig(window=WindowConfig(kind="tumbling", size_s=120.0))
    with pytest.raises(ValueError, match="cannot change under existing state"):
        GroupDetector.from_state(other, det.to_state())
    # thresholds may change under existing state
    GroupDetector.from_state(CONFIG.model_copy(update={"ph_threshold": 20.0}), det.to_state())


def test_detector_groups_by_behaviour_or_component() -> None:
    pairs = stream(seed=10, windows=2, per_window=5) + stream(
        seed=11, windows=2, per_window=5, component="B-08/justification"
    )
    by_behaviour = DriftDetector(CONFIG)
    by_component = DriftDetector(CONFIG.model_copy(update={"group_by": "component"}))
    events, component_events = [], []
    for p in sorted(pairs, key=lambda p: p.timestamp):
        events += by_behaviour.observe(p)
        component_events += by_component.observe(p)
    assert sorted(by_behaviour.groups) == ["B-08|E-1.2"]
    assert sorted(by_component.groups) == ["B-08/comparison|E-1.2", "B-08/justification|E-1.2"]
    events += by_behaviour.flush()
    assert [w.n for w in events if isinstance(w, DriftWindow)] == [10, 10]
    component_events += by_component.flush()
    assert [w.n for w in component_events if isinstance(w, DriftWindow)] == [5, 5, 5, 5]
    restored = DriftDetector.from_state(CONFIG, json.loads(json.dumps(by_behaviour.to_state())))
    assert restored.to_state() == by_behaviour.to_state()


def test_same_input_same_events() -> None:
    pairs = stream(seed=12, windows=30, bias_from=15, bias=0.2)
    assert run(pairs) == run(pairs)


def test_events_carry_the_config_version() -> None:
    events = run(stream(seed=13, windows=7))
    assert {e.config_version for e in events} == {CONFIG.version}
    assert CONFIG.model_copy(update={"psi_threshold": 1.0}).version != CONFIG.version
