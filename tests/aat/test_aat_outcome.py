"""Only what AAT measured becomes an outcome signal; its synthetic numbers stay on the record."""

from __future__ import annotations

import asyncio

import pytest

from dojo.env import EpisodeSpec
from dojo.env.aat import AATBackend
from dojo.env.aat.outcome import measured_signals
from dojo.workers.rollout import Actor


def _play(backend: AATBackend, actor: Actor, episode_type: str):  # type: ignore[no-untyped-def]
    return asyncio.run(backend.run_episode(EpisodeSpec(episode_type=episode_type, seed=5), actor))


@pytest.mark.parametrize("episode_type", ["E-1.1", "E-1.2"])
def test_planning_only_episodes_carry_no_synthetic_zeros(
    backend: AATBackend, tiny_actor: Actor, episode_type: str
) -> None:
    episode = _play(backend, tiny_actor, episode_type)
    # AAT reported them (its synthetic sprint result), but measured none of them
    assert episode.reward["velocity_ratio"] == 0.0
    assert episode.reward["completion_rate"] == 0.0
    assert episode.outcome.signals == {}, "unmeasured is absent, never zero"


def test_a_development_episode_does_not_count_days_as_features(
    backend: AATBackend, tiny_actor: Actor
) -> None:
    episode = _play(backend, tiny_actor, "E-1.3")
    # AAT counts the one simulated day as a finished feature and assumes 0.8 coverage
    assert episode.reward["completion_rate"] > 0 and episode.reward["coverage_score"] == 0.8
    assert episode.outcome.signals == {}


def _phase(phase: str, error: str | None = None, **artifacts: int) -> dict[str, object]:
    return {"phase": phase, "error": error, "artifacts": artifacts}


def test_a_qa_review_that_reviewed_cards_measures_acceptance() -> None:
    components = {"completion_rate": 0.5, "velocity_ratio": 0.3, "coverage_score": 0.8}
    reviewed = [_phase("development", days_completed=1), _phase("qa_review", cards_reviewed=2)]
    assert measured_signals(reviewed, components) == {"story_accepted": 0.5}
    # nothing reviewed, a failed review, or development after it: not measured
    for phases in (
        [_phase("development", days_completed=1), _phase("qa_review", cards_reviewed=0)],
        [_phase("qa_review", "crashed", cards_reviewed=2)],
        [_phase("qa_review", cards_reviewed=2), _phase("development", days_completed=1)],
        [_phase("planning")],
    ):
        assert measured_signals(phases, components) == {}
