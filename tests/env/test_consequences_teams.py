"""E-2.3 and the stage-3/4 episodes: scope, foreign teams, departures and new hires.

Triage (E-2.1) and recovery (E-2.2) are covered per disturbance type in
``test_disturbances.py``.
"""

from __future__ import annotations

import pytest
from env_helpers import find, kinds, play, start

from dojo.env.episodes.scope_change import SIZE_COMPONENTS, right_option

# --- E-2.3 scope change -------------------------------------------------------------


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_scope_change_answer_is_judged_by_the_real_size_and_urgency(size: str) -> None:
    right_ep, accept_ep = (find("E-2.3", lambda e: e.size == size) for _ in range(2))
    scope, users = play(right_ep, "ask_question dimension=scope", "ask_question dimension=users")
    assert f"touches {SIZE_COMPONENTS[size]} component" in scope.consequences[0].description
    assert kinds(users) == ["urgency_clarified"]
    right = right_option(size, right_ep.urgent)
    assert kinds(right_ep.step(f"negotiate option={right}")) == ["agreement"]
    accepted = accept_ep.step("negotiate option=accept")
    if size == "small":
        assert kinds(accepted) == ["agreement"]
    else:
        assert kinds(accepted) == ["sprint_overloaded"]
        assert accepted.signals["B-25/excess_code_penalty"] == 1.0
        for ep in (right_ep, accept_ep):
            ep.step("signal_ready")
        ok, overloaded = right_ep.outcome().signals, accept_ep.outcome().signals
        assert ok["story_accepted"] > overloaded["story_accepted"]
        assert ok["tests_passing"] > overloaded["tests_passing"]


def test_a_scope_request_left_unanswered_is_a_consequence() -> None:
    ep = start("E-2.3", 1)
    done = ep.step("signal_ready")
    assert kinds(done) == ["plan_agreed", "request_unanswered"]
    assert kinds(start("E-2.3", 1).step("ask_question dimension=scope")) == ["scope_clarified"]
    again = start("E-2.3", 1)
    play(again, "ask_question dimension=users")
    assert kinds(again.step("ask_question dimension=users")) == ["redundant_question"]


# --- E-3.1 borrowing: orientation in a foreign codebase -----------------------------


def _conventions(ep, which: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    return f"naming={which['naming']} errors={which['errors']}"


def test_writing_in_home_style_before_reading_violates_the_host_conventions() -> None:
    def differs(ep) -> bool:  # type: ignore[no-untyped-def]
        return ep.home["naming"] != ep.theirs["naming"] and ep.cb.kind != "legacy"

    guess, oriented = find("E-3.1", differs), find("E-3.1", differs)
    module = guess.cb.relevant_module
    blind = guess.step(f"write_code module={module} {_conventions(guess, guess.home)}")
    assert kinds(blind) == ["convention_violation"]
    assert blind.signals["B-18/read_before_write"] == 0.0
    assert guess.phase == "contribution"

    read = oriented.step(f"read_code module={module}")
    assert kinds(read) == ["code_read"]
    assert oriented.theirs["naming"] in read.consequences[0].description
    assert kinds(oriented.step("run_tests")) == ["tests_not_run"], "their build is not known yet"
    theirs = _conventions(oriented, oriented.theirs)
    play(oriented, "ask_teammate topic=build | How do I run your test suite locally please?")
    writes = play(oriented, *[f"write_code module={module} {theirs}"] * 2)
    assert [kinds(w) for w in writes] == [["code_written"], ["code_written"]]
    assert kinds(oriented.step("run_tests")) == ["tests_passing"]
    assert kinds(oriented.step("open_review")) == ["review_accepted"]
    play(guess, f"write_code module={module} {_conventions(guess, guess.home)}", "open_review")
    assert oriented.outcome().signals["story_accepted"] == 1.0
    assert guess.outcome().signals["story_accepted"] < 1.0
    assert oriented.outcome().behaviour_metrics["B-19"] == 1.0


def test_a_legacy_teams_docs_state_an_old_convention_only_reading_their_code_shows() -> None:
    ep = find("E-3.1", lambda e: e.cb.kind == "legacy")
    docs = ep.step("read_docs")
    assert kinds(docs) == ["docs_read"]
    assert f"naming {ep.theirs['naming']}" not in docs.consequences[0].description
    code = ep.step(f"read_code module={ep.cb.relevant_module}")
    assert f"naming {ep.theirs['naming']}" in code.consequences[0].description
    elsewhere = next(m for m in ep.cb.modules if m != ep.cb.relevant_module)
    assert kinds(ep.step(f"read_code module={elsewhere}")) == ["irrelevant_read"]


def test_asking_the_host_team_helps_only_on_topics_the_change_needs() -> None:
    ep = start("E-3.1", 2)
    where = ep.step(
        "ask_teammate topic=architecture | Where does the export feature live in your code?"
    )
    assert ep.cb.relevant_module in where.consequences[0].description
    assert where.signals["B-22/resolved_first_exchange"] == 1.0
    assert where.signals["B-22/context_given"] == 1.0
    vague = ep.step("ask_teammate topic=domain | domain?")
    assert vague.signals["B-22/resolved_first_exchange"] == 0.0
    assert vague.signals["B-22/context_given"] == 0.0
    assert kinds(ep.step("ask_teammate topic=architecture")) == ["redundant_question"]


# --- E-3.2 cross-team dependency ------------------------------------------------------


def test_cross_team_dependencies_are_true_or_false_and_late_ones_bite_unless_raised() -> None:
    def truth(ep) -> bool:  # type: ignore[no-untyped-def]
        return bool(ep.late) and len(ep.real) < len(ep.deps)

    careful, careless = find("E-3.2", truth), find("E-3.2", truth)
    real, late = careful.real, careful.late
    bystander = next(t for t in careful.deps if t not in real)
    assert kinds(careful.step(f"inspect team={real[0]}")) == ["dependency_found"]
    assert kinds(careful.step(f"inspect team={bystander}")) == ["no_link"]
    for team in real:
        kind = careful.deps[team].kind
        assert kinds(careful.step(f"declare_dependency team={team} kind={kind}")) == [
            "dependency_confirmed"
        ]
    for team in late:
        assert kinds(careful.step(f"raise_blocker team={team}")) == ["blocker_raised"]
    done = careful.step("signal_plan_complete")
    assert done.transition_correct is True and kinds(done) == ["plan_complete"]

    invented = careless.step(f"declare_dependency team={bystander} kind=api")
    assert kinds(invented) == ["false_dependency"]
    assert kinds(careless.step(f"raise_blocker team={bystander}")) == ["false_alarm"]
    bitten = careless.step("signal_plan_complete")
    assert bitten.transition_correct is False
    assert kinds(bitten).count("undeclared_dependency") == len(real)
    assert kinds(bitten).count("late_dependency_bit") == len(late)
    assert careful.outcome().signals["velocity"] > careless.outcome().signals["velocity"]


# --- E-4.1 knowledge handoff after a departure ---------------------------------------


def test_handoff_leaves_the_successor_able_to_work_only_if_the_critical_is_covered() -> None:
    def truth(ep) -> bool:  # type: ignore[no-untyped-def]
        return not any(ep.items[t].documented for t in ep.critical)

    good, poor = find("E-4.1", truth), find("E-4.1", truth)
    reviewed = good.step("review_backlog")
    assert kinds(reviewed) == ["backlog_reviewed"]
    assert any(good.dep.critical_work in k for k in reviewed.observation.known)  # type: ignore[union-attr]
    for topic in good.critical:
        assert kinds(good.step(f"pair_session topic={topic}")) == ["knowledge_transferred"]
    item = good.dep.critical_work
    play(good, f"record_decision item={item}", f"hand_over item={item}")
    assert kinds(good.step("signal_handoff_complete")) == ["handoff_complete"]

    trivia = next(t for t, k in poor.items.items() if k.importance == "trivia")
    spent = poor.step(f"document topic={trivia}")
    assert spent.signals["B-24/prioritised"] == 0.0, "trivia while critical knowledge is open"
    left = poor.step("signal_handoff_complete")
    assert kinds(left) == ["handoff_complete", "orphaned_work"]
    assert good.outcome().signals["velocity"] > poor.outcome().signals["velocity"]
    assert poor.outcome().behaviour_metrics["B-24"] >= 0.3, "velocity drop of the successor"


def test_documenting_what_is_already_written_is_waste() -> None:
    ep = find("E-4.1", lambda e: any(k.documented for k in e.items.values()))
    topic = next(t for t, k in ep.items.items() if k.documented)
    assert "already documented" in ep.step(f"check_docs topic={topic}").consequences[0].description
    assert kinds(ep.step(f"document topic={topic}")) == ["redundant_handoff"]


# --- E-4.2 onboarding a new hire -----------------------------------------------------


def test_onboarding_closes_real_gaps_only_with_specific_help() -> None:
    ep = find("E-4.2", lambda e: e.docs_current)
    asked = ep.step("check_in")
    gap = ep.gaps[0]
    assert kinds(asked) == ["question_raised"] and gap in asked.consequences[0].description
    terse = ep.step(f"explain topic={gap} | it is easy")
    assert kinds(terse) == ["gap_still_open"]
    clear = ep.step(
        f"explain topic={gap} | we run it with make check and it needs the local database"
    )
    assert kinds(clear) == ["gap_closed"]
    known = next(
        t
        for t in ("build", "deploy", "domain", "conventions", "architecture", "testing")
        if t not in ep.gaps
    )
    assert kinds(ep.step(f"pair topic={known}")) == ["not_a_gap"]
    big = ep.step("assign_task size=large")
    assert kinds(big) == ["task_assigned", "task_too_big"]


def test_legacy_docs_do_not_close_a_gap_but_pairing_does() -> None:
    ep = find("E-4.2", lambda e: not e.docs_current)
    gap = ep.gaps[0]
    assert kinds(ep.step(f"point_to_docs topic={gap}")) == ["gap_still_open"]
    assert kinds(ep.step(f"pair topic={gap}")) == ["gap_closed"]
    assert kinds(ep.step("assign_task size=small")) == ["task_assigned"]


# --- E-4.3 compensating for a departure ----------------------------------------------


def test_covering_a_departure_needs_the_critical_item_and_the_right_help() -> None:
    def needs_help(ep) -> bool:  # type: ignore[no-untyped-def]
        return ep.needs_help

    helped, alone, drifted = (find("E-4.3", needs_help) for _ in range(3))
    critical, topic = helped.critical, helped.needs[helped.critical]
    look = helped.step(f"assess_progress item={critical}")
    assert "the release depends on it" in look.consequences[0].description
    assert kinds(helped.step(f"ask_help topic={topic}")) == ["help_arranged"]
    helped.step(f"take_over item={critical}")
    good = helped.step("signal_plan_complete")
    assert good.transition_correct is True and kinds(good) == ["plan_complete"]

    alone.step(f"take_over item={critical}")
    stuck = alone.step("signal_plan_complete")
    assert stuck.transition_correct is False and "stuck_without_help" in kinds(stuck)

    other = next(i for i in drifted.items if i != critical)
    drifted.step(f"take_over item={other}")
    unowned = drifted.step("signal_plan_complete")
    assert "critical_work_unowned" in kinds(unowned)
    accepted = {ep: ep.outcome().signals["story_accepted"] for ep in (helped, alone, drifted)}
    assert accepted[helped] > accepted[alone] > accepted[drifted]


def test_asking_for_help_you_do_not_need_costs_a_colleagues_day() -> None:
    ep = find("E-4.3", lambda e: not e.needs_help)
    result = ep.step(f"ask_help topic={ep.skills[0]}")
    assert kinds(result) == ["needless_help"] and result.consequences[0].cost == 1.0
    assert result.signals["B-12/help_seeking"] == 0.0
