"""All 13 episode types: they run, end, measure against hidden truth, and reward judgment."""

from __future__ import annotations

import statistics

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode
from dojo.env.episodes import EPISODE_CLASSES
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import Trace, play
from dojo.reward import DecisionRecord, attribute_episode
from dojo.reward.weights import BEHAVIOUR_CODES

SEEDS = range(24)


def _trace(episode_type: str, policy: str, seed: int) -> Trace:
    spec = EpisodeSpec(episode_type=episode_type, seed=seed, difficulty=(seed % 10) / 10 + 0.05)
    return play(spec, make_reference_policy(policy, seed))


def _reward(trace: Trace) -> float:
    records = [
        DecisionRecord.from_step(d, r)
        for d, r in zip(trace.decision_ids(), trace.steps, strict=True)
    ]
    return attribute_episode(trace.spec, records, trace.outcome).total


def test_every_spec_type_has_an_episode_class() -> None:
    assert set(EPISODE_CLASSES) == set(EPISODE_TYPES)


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_episode_runs_to_an_end_with_well_formed_results(episode_type: str) -> None:
    for policy in ("random", "junior", "senior"):
        for seed in range(8):
            trace = _trace(episode_type, policy, seed)
            cap = EPISODE_CLASSES[episode_type].step_cap
            assert 1 <= len(trace.steps) <= cap
            assert trace.steps[-1].done and trace.steps[-1].observation is None
            assert all(not s.done for s in trace.steps[:-1])
            outcome = trace.outcome
            assert outcome.decisions == len(trace.steps)
            assert outcome.baseline_actions > 0
            assert set(outcome.signals) == {
                "story_accepted",
                "tests_passing",
                "low_iteration_count",
                "velocity",
                "low_rework",
                "coverage",
            }
            assert all(0.0 <= v <= 1.0 for v in outcome.signals.values())
            assert set(outcome.behaviour_metrics) <= set(BEHAVIOUR_CODES)
            for step in trace.steps:
                assert all(0.0 <= v <= 1.0 for v in step.signals.values())
                assert step.consequences, "every decision has an observable consequence"
                if step.transition is not None:
                    assert step.transition_correct is not None


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_senior_plays_a_sensible_length_and_transitions_right(episode_type: str) -> None:
    for seed in range(10):
        trace = _trace(episode_type, "senior", seed)
        assert 5 <= len(trace.steps) <= 50
        assert trace.outcome.status == "completed"
        judged = [s.transition_correct for s in trace.steps if s.transition_correct is not None]
        assert all(judged), f"seed {seed}: a senior transition was wrong"
        assert not any(s.move.name == "invalid_move" for s in trace.steps)


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_consequences_rank_senior_over_junior_over_random(episode_type: str) -> None:
    means = {
        p: statistics.fmean(_reward(_trace(episode_type, p, 500 + s)) for s in SEEDS)
        for p in ("random", "junior", "senior")
    }
    assert means["senior"] > means["junior"] > means["random"], means
    outcomes = {
        p: statistics.fmean(
            _trace(episode_type, p, 500 + s).outcome.signals["story_accepted"] for s in SEEDS
        )
        for p in ("junior", "senior")
    }
    assert outcomes["senior"] > outcomes["junior"], outcomes


def test_step_after_the_end_is_answered_not_raised() -> None:
    episode = make_episode(EpisodeSpec(episode_type="E-2.1", seed=3))
    episode.start()
    episode.step("respond_defer")
    late = episode.step("respond_defer")
    assert late.done and late.move.name == "invalid_move"
    assert late.consequences[0].kind == "episode_over"


def test_step_cap_truncates() -> None:
    episode = make_episode(EpisodeSpec(episode_type="E-1.5", seed=4))
    episode.start()
    results = [episode.step("search_code topic=webhooks") for _ in range(episode.step_cap)]
    assert results[-1].done
    assert "truncated" in [c.kind for c in results[-1].consequences]
    assert episode.outcome().status == "truncated"
    assert all(not r.done for r in results[:-1])


def test_phase_events_open_and_close_every_phase() -> None:
    trace = _trace("E-3.1", "senior", 2)
    events = list(trace.start_events) + [e for s in trace.steps for e in s.phase_events]
    assert [(e.kind, e.phase) for e in events] == [
        ("started", "orientation"),
        ("completed", "orientation"),
        ("started", "contribution"),
        ("completed", "contribution"),
    ]
    assert events[-1].outcome["decisions"] == len(trace.steps)


def test_wrong_spec_type_for_a_class_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"runs E-1\.1"):
        EPISODE_CLASSES["E-1.1"](EpisodeSpec(episode_type="E-1.2", seed=1))
    with pytest.raises(ValueError, match="unknown episode type"):
        make_episode(EpisodeSpec(episode_type="E-4.5", seed=1))
