"""One episode, driven by a policy, as the sequence of events it publishes.

No Kafka here: the environment worker sends what this yields, and tests read it
directly. Given the same spec, episode id, policy and clock, the stream is
byte-identical.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

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
    # a chat model's conversation (see DecisionMade): ids before prompt_token_ids,
    # whether it restarted here, and how the completion ended (None: scripted)
    context_offset: int = 0
    context_restarted: bool = False
    finish_reason: Literal["eos", "newline", "length"] | None = None


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


class EpisodeRun:
    """One episode as a state machine: the observation awaiting a move, and the events so far.

    :func:`rollout` drives one at a time; the environment worker drives several in
    lockstep, so that one batched forward pass of the model chooses a move for each
    (:func:`act_all`). Event ids derive from ``(episode_id, position)``: re-running
    the same episode id re-creates the same ids.
    """

    def __init__(
        self,
        spec: EpisodeSpec,
        episode_id: str,
        policy_version: str,
        stamper: Stamper,
        *,
        scenario: str = "",
    ) -> None:
        self.spec = spec
        self.episode_id = episode_id
        self.policy_version = policy_version
        self._stamper = stamper
        self._episode = make_episode(spec)
        self._scenario = scenario or getattr(self._episode, "summary", "")
        self._seq = 0
        #: awaiting a move; None before :meth:`start` and once the episode is over
        self.observation: Observation | None = None
        self.done = False

    @property
    def action_seed(self) -> int:
        """The sampling seed of the awaited move: reproducible per episode and step."""
        assert self.observation is not None
        return self.spec.seed * 1_000 + self.observation.step

    def start(self) -> list[AnyEvent]:
        """EpisodeStarted and the opening phase events (EpisodeCompleted too, if no move is due)."""
        events: list[AnyEvent] = [
            self._stamper.make(
                EpisodeStarted,
                (self.episode_id, self._next_seq()),
                episode_id=self.episode_id,
                spec=self.spec,
                policy_version=self.policy_version,
                scenario=self._scenario,
            )
        ]
        first, phase_events = self._episode.start()
        events += [self._phase(e) for e in phase_events]
        self.observation = first
        if first is None:
            events.append(self._completed())
        return events

    def apply(self, action: Action, generation_ms: float) -> list[AnyEvent]:
        """Play ``action`` on the awaited observation: its DecisionMade, the phase events it
        caused and, when it ended the episode, the EpisodeCompleted."""
        observation = self.observation
        if observation is None:
            raise RuntimeError(f"episode {self.episode_id} awaits no move")
        result = self._episode.step(action.text)
        events: list[AnyEvent] = [
            self._stamper.make(
                DecisionMade,
                (self.episode_id, self._next_seq()),
                episode_id=self.episode_id,
                decision_id=f"{self.episode_id}/{observation.step:03d}",
                step=observation.step,
                phase=observation.phase,
                policy_version=self.policy_version,
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
                generation_ms=round(generation_ms, 3),
                context_offset=action.context_offset,
                context_restarted=action.context_restarted,
                finish_reason=action.finish_reason,
            )
        ]
        events += [self._phase(e) for e in result.phase_events]
        self.observation = None if result.done else result.observation
        if self.observation is None:
            events.append(self._completed())
        return events

    def _completed(self) -> EpisodeCompleted:
        self.done = True
        published_before = self._seq
        return self._stamper.make(
            EpisodeCompleted,
            (self.episode_id, self._next_seq()),
            episode_id=self.episode_id,
            outcome=self._episode.outcome(),
            policy_version=self.policy_version,
            event_count=published_before,
        )

    def _phase(self, event: PhaseEvent) -> PhaseStarted | PhaseCompleted:
        return stamp_phase(self._stamper, self.episode_id, self._next_seq(), event)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1


def act_all(
    actor: Actor,
    observations: Sequence[Observation],
    seeds: Sequence[int],
    episodes: Sequence[str] | None = None,
) -> list[Action]:
    """One move per observation: together through ``actor.act_batch`` where the actor has
    one (a model decodes them in one batch), else one ``act`` after another.

    ``episodes`` names the episode of each observation: an actor that keeps each
    episode's conversation (``act_episodes``, a chat model) continues it; call
    :func:`end_episode` when the episode is over.
    """
    conversing = getattr(actor, "act_episodes", None)
    if episodes is not None and conversing is not None:
        continued: list[Action] = conversing(episodes, observations, seeds)
        return continued
    batch = getattr(actor, "act_batch", None)
    if batch is not None:
        actions: list[Action] = batch(observations, seeds)
        return actions
    return [actor.act(o, seed=s) for o, s in zip(observations, seeds, strict=True)]


def end_episode(actor: Actor, episode_id: str) -> None:
    """Tell an actor that keeps conversations that ``episode_id`` is over."""
    end = getattr(actor, "end_episode", None)
    if end is not None:
        end(episode_id)


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
    run = EpisodeRun(spec, episode_id, actor.version, stamper, scenario=scenario)
    yield from run.start()
    conversing = hasattr(actor, "act_episodes")
    try:
        while run.observation is not None:
            started = time.perf_counter()
            if conversing:
                (action,) = act_all(actor, [run.observation], [run.action_seed], [episode_id])
            else:
                action = actor.act(run.observation, seed=run.action_seed)
            elapsed_ms = (time.perf_counter() - started) * 1000 if timed else 0.0
            yield from run.apply(action, elapsed_ms)
    finally:
        end_episode(actor, episode_id)
