"""Small helpers for the simulator tests: start an episode, find one with a given truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dojo.env import EpisodeSpec, make_episode
from dojo.env.episodes import BaseEpisode
from dojo.env.protocol import StepResult
from dojo.env.scenario import Scenario


def start(
    episode_type: str, seed: int = 0, difficulty: float = 0.5, scenario: Scenario | None = None
) -> Any:
    """A started episode (typed ``Any`` so tests can read its hidden truth freely)."""
    spec = EpisodeSpec(episode_type=episode_type, seed=seed, difficulty=difficulty)
    episode: BaseEpisode = make_episode(spec, scenario)
    episode.start()
    return episode


def find(
    episode_type: str, truth: Callable[[Any], bool], difficulty: float = 0.5, tries: int = 400
) -> Any:
    """The first seeded episode whose hidden truth satisfies ``truth``."""
    for seed in range(tries):
        episode = start(episode_type, seed, difficulty)
        if truth(episode):
            return episode
    raise AssertionError(f"no {episode_type} seed below {tries} has the wanted truth")


def kinds(result: StepResult) -> list[str]:
    return [c.kind for c in result.consequences]


def play(episode: Any, *moves: str) -> list[StepResult]:
    return [episode.step(m) for m in moves]
