"""The scenario generator: seeded hidden truth that rises with difficulty and stays hidden."""

from __future__ import annotations

import inspect
import random
import statistics

import pytest
from env_helpers import start

from dojo.env import EPISODE_TYPES
from dojo.env import story_bank as bank
from dojo.env.scenario import (
    LEVELS,
    generate_codebase,
    generate_disturbance,
    generate_scenario,
    generate_story,
)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def test_difficulty_raises_ambiguity_constraints_risk_and_legacy_code() -> None:
    def profile(d: float) -> dict[str, float]:
        worlds = [generate_scenario(seed, d) for seed in range(80)]
        return {
            "ambiguous": _mean([len(w.story.ambiguous) for w in worlds]),
            "constraints": _mean([len(w.story.constraints) for w in worlds]),
            "uncued": _mean([sum(not c.cued for c in w.story.constraints) for w in worlds]),
            "red_herrings": _mean([len(w.story.red_herrings) for w in worlds]),
            "questions": _mean([w.story.optimal_questions for w in worlds]),
            "legacy": _mean([w.team.codebase.kind == "legacy" for w in worlds]),
            "critical": _mean([w.disturbance.severity == "critical" for w in worlds]),
        }

    easy, hard = profile(0.1), profile(0.9)
    for knob in easy:
        assert hard[knob] > easy[knob], knob


def test_story_knobs_are_explicit_for_task_banks() -> None:
    # the solo evaluation builds its task bank from these knobs (dojo.eval.tasks)
    params = inspect.signature(generate_story).parameters
    assert list(params)[:1] == ["rng"]
    assert {"ambiguity", "complexity", "risk", "domain", "codebase_kind"} <= set(params)
    assert LEVELS == {"easy": 0.2, "medium": 0.5, "hard": 0.85}

    clear = generate_story(random.Random(1), ambiguity=0.0, complexity=0.0, risk=0.0)
    assert clear.ambiguous == () and clear.red_herrings == ()
    assert len(clear.constraints) == 1 and all(c.cued for c in clear.constraints)
    murky = generate_story(random.Random(1), ambiguity=1.0, complexity=1.0, risk=1.0)
    assert set(murky.ambiguous) == {"scope", "users", "acceptance"}
    assert len(murky.constraints) == 4 and len(murky.tasks) > len(clear.tasks)
    for story in (clear, murky):
        assert (
            story.optimal_questions == len({*story.ambiguous, "scope"}) + len(story.constraints) + 1
        )
        assert story.risky == max(story.tasks, key=lambda t: t.risk).component
        names = {t.component for t in story.tasks}
        assert all(d.before in names and d.after in names for d in story.dependencies)
        assert story.best_approach in story.approaches
        assert story.acceptance[story.core_criteria :] == tuple(
            c.statement for c in story.constraints
        )
    legacy = generate_codebase(random.Random(2), "legacy", "payments")
    assert legacy.kind == "legacy" and set(legacy.conventions) == set(bank.CONVENTIONS)
    assert legacy.relevant_module in legacy.modules


def test_the_world_has_teams_a_foreign_team_a_departure_and_a_new_hire() -> None:
    for seed in range(30):
        w = generate_scenario(seed, (seed % 10) / 10)
        roles = [m.role for m in w.team.members]
        assert {"product_owner", "tech_lead", "tester", "developer"} <= set(roles)
        assert all(m.seniority in bank.SENIORITIES for m in w.team.members)
        assert w.foreign_team.name != w.team.name
        assert w.foreign_team.codebase.kind in ("small", "legacy")
        assert w.departure.member in w.team.members and w.departure.member.role == "developer"
        assert w.departure.critical_work in w.departure.open_work
        assert [k.importance for k in w.departure.knowledge].count("critical") == 2
        assert len(w.new_hire.gaps) == 3 and w.new_hire.member.seniority in ("junior", "mid")
        assert any(s.answers and not s.outdated for s in w.research.sources)
        assert 1 <= sum(d.real for d in w.cross_team) <= 2
        assert w.checkpoint.issue in bank.ISSUES and w.failure in bank.FAILURES
        assert 1 <= w.sprint_day <= w.sprint_days


def test_forcing_one_part_never_shifts_another() -> None:
    base = generate_scenario(21, 0.5)
    forced = generate_scenario(21, 0.5, disturbance="merge_conflict")
    assert forced.disturbance.kind == "merge_conflict"
    assert forced.story == base.story and forced.team == base.team
    assert forced.departure == base.departure and forced.research == base.research
    d = generate_disturbance(random.Random(3), "flaky_test", 0.5, "billing service")
    assert d.kind == "flaky_test" and d.root_cause in bank.DISTURBANCE_TEXT["flaky_test"][1]


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_hidden_truth_is_not_in_the_first_observation(episode_type: str) -> None:
    for seed in range(10):
        ep = start(episode_type, seed, 0.7)
        w = ep.scenario
        text = ep.observe().text
        hidden = [
            bank.ISSUES[w.checkpoint.issue][2],
            bank.FAILURES[w.failure][0],
            f"lives in {w.foreign_team.codebase.relevant_module}",
            "depends on it",
        ]
        if episode_type == "E-1.1":  # later episodes start from the elicited story
            hidden += [c.statement for c in w.story.constraints]
        assert not [h for h in hidden if h in text]
        if episode_type == "E-2.1":
            assert bank.SEVERITY_EVIDENCE[w.disturbance.severity] not in text
        if episode_type in ("E-2.1", "E-2.2"):
            assert w.disturbance.root_cause.replace("_", " ") not in text
