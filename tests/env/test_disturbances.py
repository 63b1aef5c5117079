"""The seven disturbance types: generated with a truth, triaged against it, recovered from."""

from __future__ import annotations

import pytest
from env_helpers import kinds, play, start

from dojo.env import story_bank as bank
from dojo.env.episodes.recovery import PROPORTIONATE, RECOVERABLE
from dojo.env.episodes.triage import RESPONSES, right_audience
from dojo.env.scenario import generate_scenario

SEVEN = (
    "flaky_test",
    "production_incident",
    "scope_creep",
    "merge_conflict",
    "test_failures",
    "technical_debt",
    "dependency_break",
)


def test_the_seven_types_are_the_spec_ones_and_seeds_reach_all_of_them() -> None:
    assert set(bank.DISTURBANCE_TYPES) == set(SEVEN)
    seen = {generate_scenario(seed, 0.5).disturbance.kind for seed in range(80)}
    assert seen == set(SEVEN)


@pytest.mark.parametrize("kind", SEVEN)
def test_the_right_response_follows_from_the_truth(kind: str) -> None:
    for seed in range(40):
        d = generate_scenario(seed, seed / 40, disturbance=kind).disturbance
        assert d.kind == kind and d.root_cause in d.causes
        assert d.severity in bank.SEVERITIES and d.blast_radius in bank.BLAST_RADII
        # only another team's code can make escalation right
        assert d.owned_elsewhere <= (kind in ("dependency_break", "production_incident"))
        if d.owned_elsewhere:
            assert d.response == "escalate"
        elif d.severity in ("high", "critical"):
            assert d.response == "fix_now"
        else:
            assert d.response == "defer"


@pytest.mark.parametrize("kind", SEVEN)
def test_triage_is_scored_against_the_disturbance_truth(kind: str) -> None:
    responses = set()
    for seed in range(8):
        scenario = generate_scenario(seed, 0.6, disturbance=kind)
        d = scenario.disturbance
        responses.add(d.response)
        ep = start("E-2.1", seed, 0.6, scenario)
        assert d.headline in ep.observe().text
        metrics, logs = play(ep, "investigate aspect=metrics", "investigate aspect=logs")
        assert bank.SEVERITY_EVIDENCE[d.severity] in metrics.consequences[0].description
        whose = f"team {scenario.foreign_team.name}'s code"
        assert (whose in logs.consequences[0].description) == d.owned_elsewhere
        exact = ep.step(f"assess_severity level={d.severity}")
        assert exact.signals["B-13/severity"] == 1.0
        i = bank.SEVERITIES.index(d.severity)
        near = bank.SEVERITIES[i - 1 if i else 1]
        assert ep.step(f"assess_severity level={near}").signals["B-13/severity"] == 0.5
        told = ep.step(f"communicate audience={right_audience(d)}")
        assert told.signals["B-21/audience_match"] == 1.0
        for move, (response, _) in RESPONSES.items():
            fresh = start("E-2.1", seed, 0.6, scenario)
            result = fresh.step(move)
            assert result.done and result.transition_correct == (response == d.response)
            if response == d.response:
                assert kinds(result) == ["response_right"]
            else:
                expected = {
                    "fix_now": "over_reaction",
                    "defer": "under_reaction",
                    "escalate": "needless_escalation",
                }[response]
                assert kinds(result) == [expected]
    # the seeds exercise every right response this type can have
    possible = {"fix_now", "defer"} | (
        {"escalate"} if kind in ("dependency_break", "production_incident") else set()
    )
    assert responses == possible


@pytest.mark.parametrize("kind", RECOVERABLE)
def test_recovery_only_ends_well_at_the_root_cause(kind: str) -> None:
    for difficulty in (0.3, 0.8):
        scenario = generate_scenario(3, difficulty, disturbance=kind)
        d = scenario.disturbance
        ep = start("E-2.2", 3, difficulty, scenario)
        assert ep.d == d
        run, read = play(ep, "run_tests", "read_error")
        assert kinds(run) == ["tests_failing"]
        pointed = read.consequences[0].description
        assert d.root_cause.replace("_", " ") in pointed
        assert (" or " in pointed) == (difficulty > 0.5), "harder: two suspects"
        assert kinds(ep.step("retry")) == ["stuck"]
        wrong = next(c for c in d.causes if c != d.root_cause)
        assert kinds(ep.step(f"apply_fix cause={wrong}")) == ["fix_ineffective"]
        assert kinds(ep.step(f"apply_fix cause={d.root_cause}")) == ["root_cause_fixed"]
        assert kinds(ep.step("run_tests")) == ["tests_passing"]
        replan = ep.step(f"replan scope={PROPORTIONATE[d.severity]}")
        assert replan.signals["B-14/preserved_components"] == 1.0
        play(ep, f"write_postmortem cause={d.root_cause}", "close_incident")
        assert ep.outcome().behaviour_metrics["B-15"] == pytest.approx(d.recurrence * 0.2)

        careless = start("E-2.2", 3, difficulty, scenario)
        closed = careless.step("close_incident")
        assert kinds(closed) == ["closed_while_failing"]
        assert careless.outcome().signals["tests_passing"] == 0.0
        assert ep.outcome().signals["story_accepted"] > careless.outcome().signals["story_accepted"]


def test_scope_creep_drives_scope_change_and_never_recovery() -> None:
    creep = generate_scenario(5, 0.5, disturbance="scope_creep")
    assert start("E-2.2", 5, 0.5, creep).d.kind in RECOVERABLE
    incident = generate_scenario(5, 0.5, disturbance="production_incident")
    assert start("E-2.3", 5, 0.5, incident).d.kind == "scope_creep"
    assert start("E-2.3", 5, 0.5, creep).d == creep.disturbance
