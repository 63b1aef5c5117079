"""The curriculum: graduation from produced metrics, never from missing ones; stage changes
as events; the director's injections by stage; ablations."""

from __future__ import annotations

from collections import Counter

import pytest

from dojo.curriculum import (
    STAGES,
    Curriculum,
    StageDirector,
    actions_to_productive,
    episode_measurements,
    run_ablation,
)
from dojo.eval.drivers import ScriptedSoloPolicy, run_solo
from dojo.eval.metrics import aggregate
from dojo.eval.tasks import select_tasks
from dojo.events import StageChanged, Stamper, decode, encode

WINDOW = 20
STAGE1_STREAM = {
    "elicitation_quality": [0.72, 0.78, 0.69, 0.75] * 5,
    "decomposition_accuracy": [0.70, 0.66, 0.61, 0.71] * 5,
    "self_correction_rate": [0.5, 0.6, 0.4, 0.6] * 5,
}


def feed(curriculum: Curriculum, stream: dict[str, list[float]]):  # type: ignore[no-untyped-def]
    """Interleave the metrics' measurements as episodes would produce them."""
    change = None
    for i in range(max(len(v) for v in stream.values())):
        for metric, values in stream.items():
            if i < len(values):
                curriculum.record(metric, values[i])
        change = curriculum.advance() or change
    return change


def test_a_stream_meeting_the_stage1_criteria_advances_to_stage2() -> None:
    curriculum = Curriculum(stage=1, window=WINDOW)
    change = feed(curriculum, STAGE1_STREAM)
    assert change is not None
    assert (change.from_stage, change.to_stage) == (1, 2)
    assert curriculum.stage == 2
    assert change.criteria == {
        "elicitation_quality": pytest.approx(0.735),
        "decomposition_accuracy": pytest.approx(0.67),
        "self_correction_rate": pytest.approx(0.525),
    }
    # the change is an event, stored like any other
    event = change.event(Stamper("test"), run="r1")
    assert isinstance(event, StageChanged)
    assert decode(encode(event)) == event
    assert event.event_id == change.event(Stamper("again"), run="r1").event_id


def test_the_same_stream_with_one_metric_missing_does_not_advance() -> None:
    curriculum = Curriculum(stage=1, window=WINDOW)
    missing = {k: v for k, v in STAGE1_STREAM.items() if k != "self_correction_rate"}
    assert feed(curriculum, missing) is None
    assert curriculum.stage == 1
    status = curriculum.status()
    row = next(c for c in status.criteria if c.metric == "self_correction_rate")
    assert row.value is None and row.measurements == 0 and not row.met
    assert not status.complete


def test_a_window_not_yet_full_is_not_met_and_only_the_last_window_counts() -> None:
    curriculum = Curriculum(stage=1, window=WINDOW)
    short = {k: v[: WINDOW - 1] for k, v in STAGE1_STREAM.items()}
    assert feed(curriculum, short) is None  # 19 good measurements are not 20
    curriculum = Curriculum(stage=1, window=WINDOW)
    early_bad = {k: [0.0] * 30 + v for k, v in STAGE1_STREAM.items()}
    assert feed(curriculum, early_bad) is not None  # old failures fall out of the window
    curriculum = Curriculum(stage=1, window=WINDOW)
    below = dict(STAGE1_STREAM, decomposition_accuracy=[0.64] * WINDOW)
    assert feed(curriculum, below) is None  # .64 < .65
    # a metric that could not be measured is not a measurement
    curriculum.record("decomposition_accuracy", None)
    assert len(curriculum.measurements["decomposition_accuracy"]) == WINDOW


def test_stage2_velocity_drop_is_measured_against_stable_work() -> None:
    curriculum = Curriculum(stage=2, window=4)
    # a disturbance before any stable reference: no drop can be measured
    curriculum.record_all({"velocity@disturbed": 0.5})
    assert "velocity_drop" not in curriculum.measurements
    for _ in range(4):
        curriculum.record_all({"velocity@stable": 0.8})
    for _ in range(4):
        curriculum.record_all({"velocity@disturbed": 0.6, "triage_accuracy": 0.9})
    assert curriculum.mean("velocity_drop") == pytest.approx(0.25)
    change = curriculum.advance()
    assert change is not None and (change.from_stage, change.to_stage) == (2, 3)


def test_stage4_requires_no_regression_below_stage1_graduation() -> None:
    curriculum = Curriculum(stage=1, window=WINDOW)
    assert feed(curriculum, STAGE1_STREAM) is not None
    curriculum.stage = 4
    stable = {"velocity@stable": [0.8] * WINDOW, "velocity@changed": [0.75] * WINDOW}
    regressed = dict(STAGE1_STREAM, elicitation_quality=[0.66] * WINDOW)  # .735 at graduation
    for i in range(WINDOW):
        curriculum.record_all({k: v[i] for k, v in {**regressed, **stable}.items()})
    assert curriculum.advance() is None
    row = next(c for c in curriculum.status().criteria if c.metric == "elicitation_quality")
    assert row.threshold == pytest.approx(0.735 - 0.05)
    for i in range(WINDOW):
        curriculum.record_all({k: v[i] for k, v in STAGE1_STREAM.items()})
    change = curriculum.advance()
    assert change is not None and change.to_stage == 4 and curriculum.complete


def test_episodes_measure_what_they_exercise() -> None:
    triage = episode_measurements("E-2.1", {"B-13": 0.8, "B-14": 1.0}, {"velocity": 0.6})
    assert triage == {"triage_accuracy": 0.8, "velocity@disturbed": 0.6}
    borrowing = episode_measurements(
        "E-3.1",
        {"B-18": 1.0, "B-19": 0.75, "B-20": 0.6},
        {},
        [{"B-20/relevance": 0.0}, {"B-20/relevance": 1.0}, {}],
    )
    assert borrowing["actions_to_productive"] == 2.0
    assert borrowing["orientation"] == pytest.approx((0.75 + 0.6 + 1.0) / 3)
    assert actions_to_productive([{}, {"B-18/relevance": 1.0}]) == 3.0  # never productive
    assert episode_measurements("E-1.1", {}, {})["elicitation_quality"] is None


def test_the_director_injects_chaos_borrowing_and_team_change_by_stage() -> None:
    directors = {s: StageDirector(s, seed=1) for s in STAGES}
    draws = {s: Counter(d.action() for _ in range(400)) for s, d in directors.items()}
    assert set(draws[1]) == {0}  # a stable team
    assert draws[2][1] > 100 and 2 not in draws[2] and 4 not in draws[2]  # chaos
    assert draws[3][2] > 100 and 4 not in draws[3]  # borrowing
    assert draws[4][4] > 100  # attrition and new hires
    first, second = StageDirector(2, seed=1), StageDirector(2, seed=1)
    assert [first.action() for _ in range(50)] == [second.action() for _ in range(50)]


def test_ablation_arms_run_and_compare() -> None:
    tasks = select_tasks(2)

    def evaluate(candidate):  # type: ignore[no-untyped-def]
        policy = ScriptedSoloPolicy(candidate)
        return policy.version, aggregate(run_solo(tasks, policy))

    results = run_ablation(lambda: "senior", episodes_per_stage=6, evaluate=evaluate, window=3)
    assert [r.arm for r in results] == ["stage 1 only", "stages 1+2", "stages 1+2+3", "all stages"]
    assert [r.episodes for r in results] == [6, 12, 18, 24]
    assert "triage_accuracy" not in results[0].team
    # borrowing happens from stage 3 on, and is measured from its decisions
    assert "actions_to_productive" not in results[1].team
    assert 1.0 <= results[2].team["actions_to_productive"] < 6  # type: ignore[operator]
    assert results[0].team["elicitation_quality"] is not None
    assert all(r.solo["intent_match"] is not None for r in results)
