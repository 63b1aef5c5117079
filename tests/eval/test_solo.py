"""The solo protocol: five phases, one simulated human, consequences that carry over."""

from __future__ import annotations

from dojo.env.moves import format_move
from dojo.env.reference import make_reference_policy
from dojo.eval.drivers import ScriptedSoloPolicy, run_solo
from dojo.eval.solo import PARTS, PHASES, SoloEpisode
from dojo.eval.tasks import select_tasks


def play(task, policy_name: str):  # type: ignore[no-untyped-def]
    policy = make_reference_policy(policy_name, task.seed)
    episode = SoloEpisode(task, policy_version=policy_name)
    observations = [episode.start()]
    while (obs := episode.step(policy.decide(observations[-1]))) is not None:
        observations.append(obs)
    return episode, observations


def test_five_phases_in_order_with_the_human_as_the_only_counterpart() -> None:
    task = select_tasks(1)[0]
    episode, observations = play(task, "senior")
    trace = episode.trace()
    assert [p.phase for p in trace.phases] == [phase for phase, _ in PARTS]
    assert list(dict.fromkeys(p.phase for p in trace.phases)) == list(PHASES)
    human = episode.human.name
    for obs in observations:
        assert obs.text.startswith(f"Solo task {task.task_id}: you work alone with {human}")
    # whoever answers, weighs approaches or asks for the checkpoint is that one person
    speakers = {
        c.description.split(" (")[0]
        for p in trace.phases
        for s in p.steps
        for c in s.consequences
        if "(product owner)" in c.description or "(tech lead)" in c.description
    }
    assert speakers == {human}
    assert all(not p.exhausted for p in trace.phases)


def test_intent_not_elicited_never_reaches_execution_and_verification_finds_it() -> None:
    # a task whose story hides constraints the junior's two questions do not uncover
    for task in select_tasks(30):
        episode, observations = play(task, "junior")
        f = episode.facts
        if set(f.constraints) - set(f.revealed):
            break
    else:
        raise AssertionError("no task left a constraint undiscovered")
    missing = set(f.constraints) - set(f.revealed)
    story = task.scenario.story
    execution = next(o for o in observations if "episode E-1.3" in o.text.split("\n")[0])
    for c in story.constraints:
        assert (c.statement in execution.text) == (c.category not in missing)
    assert len(f.criteria) == story.core_criteria + len(story.constraints) - len(missing)
    # verification's hidden truth is what went wrong earlier
    assert f.verification_issue == "requirement_mismatch"
    assert f.verification_verdict == "pivot"


def test_a_sound_task_hides_nothing_at_verification() -> None:
    episode, _ = play(select_tasks(1)[0], "senior")
    assert episode.facts.verification_issue == "none"
    assert episode.facts.verification_call == "continue"


def test_the_human_moves_on_when_a_phase_runs_over_its_budget() -> None:
    task = select_tasks(1)[0]
    episode = SoloEpisode(task, budget_factor=1.0)
    episode.start()
    obs = episode.step(format_move("signal_ready"))  # on to research
    assert episode.phase == "research"
    while obs is not None and episode.phase == "research":
        # stating confidence over and over never ends research by itself
        obs = episode.step(format_move("assess_confidence", {"level": "low"}))
    record = episode.records[1]
    assert record.exhausted
    assert len(record.steps) == record.budget == 7 + 2  # 1 x its minimum actions, + 2
    assert record.budget < 25  # far below the episode's own step cap
    assert record.outcome.status == "truncated"


def test_the_driver_plays_tasks_in_lockstep_and_reproducibly() -> None:
    tasks = select_tasks(4)
    first = run_solo(tasks, ScriptedSoloPolicy("random"))
    again = run_solo(tasks, ScriptedSoloPolicy("random"))
    assert [t.task.task_id for t in first] == [t.task_id for t in tasks]
    assert [t.model_dump_json() for t in first] == [t.model_dump_json() for t in again]
    # the same as playing each task alone
    alone = run_solo(tasks[2:3], ScriptedSoloPolicy("random"))
    assert alone[0].model_dump_json() == first[2].model_dump_json()
