"""SPEC §6 metrics from solo traces: separation, None when not computable, anti-gaming."""

from __future__ import annotations

import pytest

from dojo.env.moves import format_move
from dojo.eval.drivers import ScriptedSoloPolicy, run_solo
from dojo.eval.metrics import (
    METRICS,
    PRIMARY_NAMES,
    SECONDARY_NAMES,
    aggregate,
    generic_question_share,
    goodness,
    pearson,
    task_metrics,
    team_measurements,
    transfer_scores,
)
from dojo.eval.solo import SoloEpisode
from dojo.eval.tasks import select_tasks


@pytest.fixture(scope="module")
def played() -> dict[str, list]:  # type: ignore[type-arg]
    tasks = select_tasks(12)
    return {name: run_solo(tasks, ScriptedSoloPolicy(name)) for name in ("senior", "random")}


def better(name: str, a: float | None, b: float | None) -> bool:
    assert a is not None and b is not None, name
    return a < b if METRICS[name].direction == "lower" else a > b


def test_the_scripted_senior_beats_random_on_every_primary_metric(played) -> None:  # type: ignore[no-untyped-def]
    senior, rand = aggregate(played["senior"]), aggregate(played["random"])
    assert set(senior) == {*PRIMARY_NAMES, *SECONDARY_NAMES, "performative_risk"}
    for name in PRIMARY_NAMES:
        assert better(name, senior[name], rand[name]), (name, senior[name], rand[name])
    # and the senior meets SPEC §6's targets where a scripted policy should
    for name in ("elicitation_quality", "decomposition_accuracy", "intent_match"):
        assert METRICS[name].meets(senior[name]), name
    assert senior["performative_risk"] < 0.2 < 0.8 < rand["performative_risk"]  # type: ignore[operator]
    assert senior["plan_to_execution_drift"] < rand["plan_to_execution_drift"]  # type: ignore[operator]
    # the senior asks more where the story is vaguer
    assert senior["question_count_vs_ambiguity"] > 0.5  # type: ignore[operator]


def test_a_quick_aggregate_has_only_the_primary_metrics(played) -> None:  # type: ignore[no-untyped-def]
    quick = aggregate(played["senior"], secondary=False)
    assert list(quick) == [*PRIMARY_NAMES, "performative_risk"]


def play_moves(moves: list[str]):  # type: ignore[no-untyped-def]
    """One task where the candidate makes ``moves`` and then always commits/signals."""
    episode = SoloEpisode(select_tasks(1)[0])
    episode.start()
    obs = None
    for m in moves:
        obs = episode.step(m)
    enders = {
        "elicitation": "signal_ready",
        "research": "signal_sufficient",
        "planning": "signal_plan_complete",
        "execution": "commit",
        "verification": "checkpoint_continue",
    }
    while not episode.done:
        name = enders[episode.phase]
        if episode.part_index == 4:  # the change request
            name = "signal_ready"
        obs = episode.step(format_move(name))
    assert obs is None
    return episode.trace()


def test_what_cannot_be_computed_is_none_never_a_default() -> None:
    trace = play_moves([])  # ends every phase at once: asks, reads, writes nothing
    m = task_metrics(trace)
    assert m["research_effectiveness"] is None  # nothing was retrieved
    assert m["self_correction_rate"] is not None  # verification had a defect to find...
    assert m["self_correction_rate"] == 0.0  # ...and it was not found
    assert m["plan_to_execution_drift"] is None  # nothing planned, nothing written
    assert generic_question_share(trace) is None  # no questions
    # the checkpoint never came due, and verification needed no escalation
    assert trace.facts.checkpoint_verdict is None
    assert m["escalation_appropriateness"] is None
    # nothing asked, researched, planned or escalated: nothing to judge as performative
    assert m["performative_risk"] is None
    assert m["intent_match"] == 0.0
    # across tasks: a correlation needs variation, and three tasks at least
    assert pearson([1.0, 1.0, 1.0], [0.1, 0.5, 0.9]) is None
    assert pearson([1.0, 2.0], [0.1, 0.5]) is None
    assert pearson([1.0, 2.0, 3.0], [0.1, 0.5, 0.9]) == pytest.approx(1.0, abs=0.02)


def test_template_questions_raise_the_performative_risk() -> None:
    generic = format_move("ask_question", {"dimension": "scope"}, "any questions?")
    specific = format_move(
        "ask_question", {"dimension": "scope"}, "What is explicitly out of scope for v1?"
    )
    templated = play_moves([generic, generic.replace("scope", "users")])
    careful = play_moves([specific])
    assert generic_question_share(templated) == 1.0
    assert generic_question_share(careful) == 0.0
    assert (
        task_metrics(templated)["performative_risk"]
        > task_metrics(careful)[  # type: ignore[operator]
            "performative_risk"
        ]
    )


def test_transfer_compares_like_with_like() -> None:
    solo = {"elicitation_quality": 0.6, "sufficiency_error": 0.3, "intent_match": None}
    team = {"elicitation_quality": 0.8, "sufficiency_error": 0.1, "intent_match": 0.9}
    scores = transfer_scores(solo, team)
    assert scores["elicitation_quality"] == pytest.approx(0.75)
    # an error metric compares on the higher-is-better scale: (1 - .3) / (1 - .1)
    assert scores["sufficiency_error"] == pytest.approx(0.7 / 0.9)
    assert scores["intent_match"] is None  # the solo side is missing
    assert scores["research_effectiveness"] is None  # both sides missing
    assert goodness("sufficiency_error", 1.4) == 0.0
    # the team side uses the same formulas on a training episode's behaviour metrics
    measured = team_measurements("E-1.1", {"B-01": 0.5, "B-02": 1.0, "B-03": 0.6, "B-04": 0.2}, {})
    assert measured == {"elicitation_quality": pytest.approx(0.7), "sufficiency_error": 0.2}
    assert team_measurements("E-4.1", {"B-23": 1.0}, {}) == {}
