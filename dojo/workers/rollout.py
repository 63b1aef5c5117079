"""One episode, driven by a policy, as the sequence of events it publishes.

No Kafka here: the environment worker sends what this yields, and tests read it
directly. Given the same spec, episode id, policy and clock, the stream is
byte-identical.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from dojo.env import make_episode
from dojo.env.protocol import EpisodeSpec, Observation, PhaseEvent
from dojo.events import (
    AnyEvent,
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    PhaseCompleted,
    PhaseStarted,
    Stamper,
)


@dataclass(frozen=True)
class Action:
    """What a policy produced for one observation, token-in/token-out."""

    text: str
    prompt_text: str
    prompt_token_ids: list[int] = field(default_factory=list)
    completion_token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    allowed_token_ids: list[list[int] | None] | None = None


class Actor(Protocol):
    """A policy as the rollout sees it."""

    @property
    def version(self) -> str: ...

    def act(self, observation: Observation, seed: int) -> Action: ...

    def between_episodes(self) -> None:
        """Called before each episode: where an actor may switch to newer weights."""


def stamp_phase(
    stamper: Stamper, episode_id: str, seq: int, event: PhaseEvent
) -> PhaseStarted | PhaseCompleted:
    if event.kind == "started":
        return stamper.make(
            PhaseStarted,
            (episode_id, seq),
            episode_id=episode_id,
            phase=event.phase,
            index=event.index,
        )
    return stamper.make(
        PhaseCompleted,
        (episode_id, seq),
        episode_id=episode_id,
        phase=event.phase,
        index=event.index,
        outcome=event.outcome,
    )


def rollout(
    spec: EpisodeSpec,
    episode_id: str,
    actor: Actor,
    stamper: Stamper,
    *,
    scenario: str = "",
    timed: bool = True,
) -> Iterator[AnyEvent]:
    """Run one episode and yield its events in order, the EpisodeCompleted last.

    Event ids derive from ``(episode_id, position)``: re-running the same episode
    id re-creates the same ids. ``timed=False`` records zero generation time, for
    byte-identical streams.
    """
    episode = make_episode(spec)
    policy_version = actor.version
    seq = 0

    def next_seq() -> int:
        nonlocal seq
        seq += 1
        return seq - 1

    yield stamper.make(
        EpisodeStarted,
        (episode_id, next_seq()),
        episode_id=episode_id,
        spec=spec,
        policy_version=policy_version,
        scenario=scenario or getattr(episode, "summary", ""),
    )
    first, phase_events = episode.start()
    observation: Observation | None = first
    for phase_event in phase_events:
        yield stamp_phase(stamper, episode_id, next_seq(), phase_event)
    while observation is not None:
        started = time.perf_counter()
        action = actor.act(observation, seed=spec.seed * 1_000 + observation.step)
        elapsed_ms = (time.perf_counter() - started) * 1000 if timed else 0.0
        result = episode.step(action.text)
        yield stamper.make(
            DecisionMade,
            (episode_id, next_seq()),
            episode_id=episode_id,
            decision_id=f"{episode_id}/{observation.step:03d}",
            step=observation.step,
            phase=observation.phase,
            policy_version=policy_version,
            prompt_text=action.prompt_text,
            prompt_token_ids=action.prompt_token_ids,
            completion_text=action.text,
            completion_token_ids=action.completion_token_ids,
            logprobs=action.logprobs,
            allowed_token_ids=action.allowed_token_ids,
            move=result.move,
            consequences=list(result.consequences),
            signals=result.signals,
            transition=result.transition,
            transition_correct=result.transition_correct,
            generation_ms=round(elapsed_ms, 3),
        )
        for phase_event in result.phase_events:
            yield stamp_phase(stamper, episode_id, next_seq(), phase_event)
        observation = None if result.done else result.observation
    published_before = seq
    yield stamper.make(
        EpisodeCompleted,
        (episode_id, next_seq()),
        episode_id=episode_id,
        outcome=episode.outcome(),
        policy_version=policy_version,
        event_count=published_before,
    )
