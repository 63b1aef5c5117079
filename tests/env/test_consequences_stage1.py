"""Stage-1 episodes (E-1.2 … E-1.5): decisions have the consequences the hidden truth dictates.

E-1.1 elicitation has its own file (``test_elicitation.py``).
"""

from __future__ import annotations

import pytest
from env_helpers import find, kinds, play, start

from dojo.env import story_bank as bank
from dojo.env.episodes.self_monitoring import LOOKS
from dojo.policy.prompt import COMPACT_FACT_WORDS

# --- E-1.2 decomposition -------------------------------------------------------------


def _plan(ep, order: list[str], spike: str | None = None):  # type: ignore[no-untyped-def]
    moves = [f"spike component={spike}"] if spike else []
    moves += [f"create_task component={c}" for c in order]
    moves.append(f"choose_approach approach={ep.story.best_approach}")
    return play(ep, *moves, "signal_plan_complete")[-1]


def test_risky_last_fails_late_and_an_early_spike_softens_it() -> None:
    def truth(ep) -> bool:  # type: ignore[no-untyped-def]
        return len(ep.needed) >= 4

    last, first, spiked = (find("E-1.2", truth) for _ in range(3))
    risky = last.story.risky
    rest = [c for c in last.needed if c != risky]
    late = _plan(last, [*rest, risky])
    early = _plan(first, [risky, *rest])
    softened = _plan(spiked, [*rest, risky], spike=risky)
    assert "late_failure" in kinds(late) and "late_failure" in kinds(softened)
    assert "late_failure" not in kinds(early)
    assert late.transition_correct is early.transition_correct is True
    assert (
        late.signals["B-05/riskiest_task_position"] < early.signals["B-05/riskiest_task_position"]
    )
    o_late, o_early, o_soft = (e.outcome().signals for e in (last, first, spiked))
    assert (
        o_early["low_iteration_count"]
        > o_soft["low_iteration_count"]
        > o_late["low_iteration_count"]
    )
    assert o_soft["tests_passing"] > o_late["tests_passing"]
    assert first.outcome().behaviour_metrics["B-05"] == 0.0


def test_gold_plating_false_dependencies_and_flawed_approaches_cost() -> None:
    ep = find("E-1.2", lambda e: bool(e.story.dependencies))
    extra = next(c for c in ep.story.extras if c not in ep.needed)
    dep = ep.story.dependencies[0]
    plated, right, wrong = play(
        ep,
        f"create_task component={extra}",
        f"add_dependency task={dep.after} needs={dep.before} kind={dep.kind}",
        f"add_dependency task={dep.before} needs={dep.after} kind={dep.kind}",
    )
    assert kinds(plated) == ["gold_plating"] and plated.signals["B-25/excess_code_penalty"] == 1.0
    assert kinds(right) == ["dependency_confirmed"]
    assert right.signals["B-06/dependency_typing"] == 1.0
    assert kinds(wrong) == ["false_dependency"]

    good = find("E-1.2", lambda e: True)
    flawed = find("E-1.2", lambda e: True)
    for ep_, approach in ((good, good.story.best_approach), (flawed, None)):
        approach = approach or next(a for a in ep_.story.approaches if a != ep_.story.best_approach)
        play(ep_, *[f"create_task component={c}" for c in ep_.needed])
        play(ep_, f"choose_approach approach={approach}", "signal_plan_complete")
    assert good.outcome().signals["story_accepted"] > flawed.outcome().signals["story_accepted"]
    assert good.outcome().signals["low_rework"] > flawed.outcome().signals["low_rework"]


def test_comparing_approaches_names_each_flaw_and_planning_too_little_is_wrong() -> None:
    ep = start("E-1.2", 4)
    a, b = ep.story.approaches[:2]
    early = ep.step("compare_approaches")
    assert kinds(early) == ["nothing_to_compare"]
    play(ep, f"propose_approach approach={a}", f"propose_approach approach={b}")
    compared = ep.step("compare_approaches")
    assert kinds(compared) == ["approaches_compared"]
    known = compared.observation.known  # type: ignore[union-attr]
    for approach in (a, b):
        flaw = approach != ep.story.best_approach
        assert any(k.startswith(f"flaw ({approach})") for k in known) == flaw
    done = ep.step("signal_plan_complete")
    assert done.transition_correct is False and "missing_task" in kinds(done)


def test_the_sound_approach_is_named_within_the_words_a_compact_prompt_keeps() -> None:
    # the tiny preset's prompt cuts each fact to its first words: a comparison's verdict
    # must name the approach there, or choosing it is a guess
    ep = find("E-1.2", lambda e: len(e.story.approaches) >= 2)
    play(ep, *[f"propose_approach approach={a}" for a in ep.story.approaches])
    known = ep.step("compare_approaches").observation.known
    kept = [fact.split()[:COMPACT_FACT_WORDS] for fact in known]
    for approach in ep.story.approaches:
        verdicts = {words[0] for words in kept if f"({approach}):" in words}
        assert verdicts == {"sound" if approach == ep.story.best_approach else "flaw"}


def test_a_risk_call_or_a_choice_made_again_without_new_evidence_earns_nothing() -> None:
    # naming every component (or choosing every approach) in turn would otherwise collect
    # the right one's score by enumeration
    ep = find("E-1.2", lambda e: len(e.story.approaches) >= 2)
    other = next(c for c in ep.offered if c != ep.story.risky)
    first = ep.step(f"identify_risk component={other}")
    assert kinds(first) == ["risk_identified"] and first.signals
    again = ep.step(f"identify_risk component={ep.story.risky}")
    assert kinds(again) == ["redundant_call"] and not again.signals
    ep.step(f"spike component={ep.story.risky}")  # new evidence: a new call is news
    after = ep.step(f"identify_risk component={ep.story.risky}")
    assert after.signals["B-05/risk_prediction"] == 1.0

    a, b = ep.story.approaches[:2]
    chosen = ep.step(f"choose_approach approach={a}")
    assert kinds(chosen) == ["approach_chosen"] and chosen.signals
    guess = ep.step(f"choose_approach approach={b}")
    assert kinds(guess) == ["redundant_call"] and not guess.signals
    assert ep.chosen == a  # the team keeps the first choice
    play(ep, f"propose_approach approach={a}", f"propose_approach approach={b}")
    play(ep, "compare_approaches")
    best = ep.step(f"choose_approach approach={ep.story.best_approach}")
    assert best.signals["B-08/approach_survived"] == 1.0 and ep.chosen == ep.story.best_approach


# --- E-1.3 implementation ------------------------------------------------------------


def _write(ep, criterion: str, units: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    f = ep.codebase.relevant_module
    return [f"write_code target={criterion} file={f}"] * units


def test_coding_before_reading_the_module_breaks_conventions_and_costs_rework() -> None:
    blind, careful = start("E-1.3", 6), start("E-1.3", 6)
    first = blind.step(_write(blind, "ac1", 1)[0])
    assert "convention_violation" in kinds(first)
    read = careful.step(f"read_file file={careful.codebase.relevant_module}")
    assert kinds(read) == ["file_read"]
    assert "convention_violation" not in kinds(careful.step(_write(careful, "ac1", 1)[0]))
    for ep in (blind, careful):
        play(ep, *_write(ep, "ac1", 1), "commit")
    assert careful.outcome().signals["low_rework"] > blind.outcome().signals["low_rework"]
    other = next(m for m in blind.codebase.modules if m != blind.codebase.relevant_module)
    assert "misplaced_code" in kinds(start("E-1.3", 6).step(f"write_code target=ac1 file={other}"))


def _to_failure(ep) -> None:  # type: ignore[no-untyped-def]
    play(
        ep, f"read_file file={ep.codebase.relevant_module}", *_write(ep, "ac1"), *_write(ep, "ac2")
    )
    assert ep.failing


def test_the_planted_failure_is_silent_until_tests_run_and_only_the_root_cause_fixes_it() -> None:
    fixed, masked, ignored = (start("E-1.3", 8) for _ in range(3))
    for ep in (fixed, masked, ignored):
        _to_failure(ep)
    cause = fixed.cause
    run = fixed.step("run_tests")
    assert kinds(run)[0] == "tests_failing"
    assert bank.FAILURES[cause][0] in run.consequences[0].description
    error = fixed.step("read_error")
    assert bank.FAILURES[cause][1] in error.consequences[0].description
    wrong = next(f for f in bank.FAILURES if f != cause)
    assert "fix_ineffective" in kinds(fixed.step(f"apply_fix fix={wrong}"))
    assert "root_cause_fixed" in kinds(fixed.step(f"apply_fix fix={cause}"))
    assert "tests_passing" in kinds(fixed.step("run_tests"))

    play(masked, "run_tests")
    assert "symptom_masked" in kinds(masked.step("apply_fix fix=retry_on_failure"))
    assert "tests_passing" in kinds(masked.step("run_tests")), "a masked failure looks green"
    shipped = {ep: kinds(ep.step("commit")) for ep in (fixed, masked, ignored)}
    assert "bug_recurred" in shipped[masked]
    assert "shipped_failing" in shipped[ignored]
    assert not {"bug_recurred", "shipped_failing"} & set(shipped[fixed])
    tests = {ep: ep.outcome().signals["tests_passing"] for ep in (fixed, masked, ignored)}
    assert tests[fixed] > tests[masked] > tests[ignored]


def _to_checkpoint(ep) -> None:  # type: ignore[no-untyped-def]
    play(ep, f"read_file file={ep.codebase.relevant_module}")
    for c in ep.criteria:
        play(ep, *_write(ep, c))
        if ep.checkpoint_state == "pending":
            return
    raise AssertionError("no checkpoint came")


@pytest.mark.parametrize("verdict", ["continue", "pivot", "escalate"])
def test_implementation_checkpoint_is_right_or_wrong_against_the_planted_issue(
    verdict: str,
) -> None:
    right = find("E-1.3", lambda e: e.truth.verdict == verdict)
    wrong = find("E-1.3", lambda e: e.truth.verdict == verdict)
    for ep in (right, wrong):
        _to_checkpoint(ep)
        assert any(m.name == "checkpoint_pivot" for m in ep.moves())
    good = right.step(f"checkpoint_{verdict}")
    assert good.transition == verdict and good.transition_correct is True
    assert kinds(good)[0] in ("checkpoint_confirmed", "pivot_taken", "escalation_resolved")
    other = "continue" if verdict != "continue" else "pivot"
    bad = wrong.step(f"checkpoint_{other}")
    assert bad.transition_correct is False and kinds(bad)[0] == "checkpoint_wrong"
    assert right.outcome().signals["story_accepted"] > wrong.outcome().signals["story_accepted"]
    if verdict != "continue":  # continuing a dead path makes every later write cost double
        assert "struggling" in kinds(wrong.step(_write(wrong, wrong.criteria[-1], 1)[0]))


def test_an_ignored_checkpoint_is_taken_as_continue_and_scored_as_missed() -> None:
    ep = find("E-1.3", lambda e: e.truth.verdict == "pivot")
    _to_checkpoint(ep)
    results = play(ep, "run_tests", "run_tests", "run_tests")
    assert "checkpoint_missed" in kinds(results[-1])
    assert results[-1].signals["B-09/checkpoint_accuracy"] == 0.0
    assert not any(m.name == "checkpoint_pivot" for m in ep.moves())
    assert ep.outcome().behaviour_metrics["B-09"] == 0.0


# --- E-1.4 self-monitoring -----------------------------------------------------------


@pytest.mark.parametrize("issue", list(bank.ISSUES))
def test_each_look_finds_only_its_own_kind_of_issue(issue: str) -> None:
    ep = find("E-1.4", lambda e: e.issue == issue)
    for look, finds in LOOKS.items():
        result = ep.step(look)
        assert (kinds(result) == ["issue_evidence"]) == (issue in finds), look
    progress = ep.step("check_progress")
    assert bank.ISSUES[issue][1] in progress.consequences[0].description
    assert kinds(ep.step("run_checks")) == ["redundant_look"]


@pytest.mark.parametrize("issue", list(bank.ISSUES))
def test_self_monitoring_checkpoint_against_the_planted_issue(issue: str) -> None:
    verdict = bank.ISSUES[issue][0]
    right, carry_on, needless = (find("E-1.4", lambda e: e.issue == issue) for _ in range(3))
    good = right.step(f"checkpoint_{verdict}")
    assert good.done and good.transition_correct is True and kinds(good) == ["checkpoint_confirmed"]
    if verdict != "continue":
        shipped = carry_on.step("checkpoint_continue")
        assert shipped.transition_correct is False and kinds(shipped) == ["issue_shipped"]
        assert (
            right.outcome().signals["story_accepted"] > carry_on.outcome().signals["story_accepted"]
        )
    else:
        wasted = needless.step("checkpoint_escalate")
        assert kinds(wasted) == ["checkpoint_wrong"] and wasted.consequences[0].cost == 4.0
        assert right.outcome().signals["velocity"] > needless.outcome().signals["velocity"]


def test_a_report_repeated_without_a_new_look_earns_nothing() -> None:
    ep = find("E-1.4", lambda e: e.issue == "approach_dead_end")
    first = ep.step("assess_progress estimate=behind")
    assert kinds(first) == ["progress_assessed"] and first.signals
    again = ep.step("assess_progress estimate=behind")
    assert kinds(again) == ["redundant_report"] and not again.signals
    assert kinds(ep.step("identify_issue kind=approach_dead_end")) == ["issue_named"]
    assert kinds(ep.step("identify_issue kind=approach_dead_end")) == ["redundant_report"]
    ep.step("run_checks")  # new evidence: reporting again is news
    after = ep.step("assess_progress estimate=behind")
    assert kinds(after) == ["progress_assessed"] and after.signals


# --- E-1.5 research --------------------------------------------------------------------


def test_research_built_on_an_outdated_source_is_wrong_and_unread_sources_count_for_nothing() -> (
    None
):
    def truth(ep) -> bool:  # type: ignore[no-untyped-def]
        # outdated yet on the question: it looks like an answer
        return any(s.outdated and s.answers for s in ep.gap.sources)

    sound_ep, stale_ep = find("E-1.5", truth), find("E-1.5", truth)
    unknown = sound_ep.step("fetch_doc source=s1")
    assert kinds(unknown) == ["unknown_source"]
    sound = next(s.id for s in sound_ep.gap.sources if s.answers and not s.outdated)
    stale = next(s.id for s in stale_ep.gap.sources if s.outdated and s.answers)
    for ep, sid in ((sound_ep, sound), (stale_ep, stale)):
        play(ep, "search query=general", f"fetch_doc source={sid}", f"synthesize source={sid}")
    good, bad = sound_ep.step("signal_sufficient"), stale_ep.step("signal_sufficient")
    assert kinds(good) == ["research_closed"]
    assert kinds(bad) == ["research_closed", "wrong_answer_built"]
    assert sound_ep.outcome().signals["story_accepted"] == 1.0
    assert stale_ep.outcome().signals["story_accepted"] < 0.5
    guess = start("E-1.5", 3).step("synthesize source=s2")
    assert kinds(guess) == ["unread_basis"]


def test_a_search_on_the_gap_lists_its_sources_and_a_wrong_topic_lists_none() -> None:
    ep = start("E-1.5", 12)
    topic = ep.gap.topic
    off = next(t for t in bank.RESEARCH_TOPICS if t != topic)
    on = ep.step(f"search query={topic}")
    assert on.signals["B-16/efficiency"] == 1.0
    assert any(k.startswith("found s") for k in on.observation.known)  # type: ignore[union-attr]
    miss = start("E-1.5", 12).step(f"search query={off}")
    assert miss.signals["B-16/efficiency"] == 0.0
    assert kinds(ep.step(f"search query={topic}")) == ["redundant_search"]
