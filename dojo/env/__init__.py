"""Dojo's simulated team: seeded scenarios with hidden truth, 13 episode types with
real consequences (each declared in :mod:`dojo.env.registry`, where ``register``
adds one), the move grammar, the behavioural scorer and reference policies.

Pure Python, no I/O. The entry point::

    from dojo.env import make_episode
    episode = make_episode(EpisodeSpec(episode_type="E-1.1", seed=7))
    observation, phase_events = episode.start()
    result = episode.step("ask_question dimension=scope | What is out of scope?")
"""

from __future__ import annotations

from dojo.env import registry
from dojo.env.episodes import BaseEpisode
from dojo.env.protocol import EPISODE_TYPES, Episode, EpisodeSpec
from dojo.env.registry import register, unregister
from dojo.env.scenario import Scenario


def make_episode(spec: EpisodeSpec, scenario: Scenario | None = None) -> BaseEpisode:
    """A fresh episode for ``spec``; ``scenario`` overrides the one its seed generates
    (the director env uses it to steer the world)."""
    record = registry.find(spec.episode_type)
    if record is None:
        raise ValueError(
            f"unknown episode type {spec.episode_type!r}; known: {', '.join(registry.codes())}"
        )
    return record.episode_class(spec, scenario)


__all__ = ["EPISODE_TYPES", "Episode", "EpisodeSpec", "make_episode", "register", "unregister"]
