"""Play one episode with a policy and keep the whole trace (for benches, tests, gym)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from dojo.env.episodes import BaseEpisode
from dojo.env.protocol import EpisodeOutcome, EpisodeSpec, Observation, PhaseEvent, StepResult
from dojo.env.scenario import Scenario


class Policy(Protocol):
    def decide(self, observation: Observation) -> str: ...


class Trace(BaseModel):
    """Everything an episode produced, in order; its JSON is the determinism check."""

    model_config = ConfigDict(frozen=True)

    spec: EpisodeSpec
    first: Observation
    start_events: tuple[PhaseEvent, ...]
    completions: tuple[str, ...]
    steps: tuple[StepResult, ...]
    outcome: EpisodeOutcome

    def observations(self) -> list[Observation]:
        """The observations the policy decided on, in order (the last step's is not one)."""
        return [self.first, *(s.observation for s in self.steps[:-1] if s.observation is not None)]

    def decision_ids(self) -> list[str]:
        return [
            f"{self.spec.episode_type}-{self.spec.seed}/{i:03d}" for i in range(len(self.steps))
        ]


def play(spec: EpisodeSpec, policy: Policy, scenario: Scenario | None = None) -> Trace:
    from dojo.env import make_episode  # the package imports this module's siblings

    episode: BaseEpisode = make_episode(spec, scenario)
    first, events = episode.start()
    observation = first
    completions = []
    steps = []
    while True:
        completion = policy.decide(observation)
        result = episode.step(completion)
        completions.append(completion)
        steps.append(result)
        if result.done or result.observation is None:
            break
        observation = result.observation
    return Trace(
        spec=spec,
        first=first,
        start_events=events,
        completions=tuple(completions),
        steps=tuple(steps),
        outcome=episode.outcome(),
    )


class BatchPolicy(Protocol):
    """A policy deciding for many live episodes at once (a model decodes them as one batch)."""

    def decide_batch(self, observations: list[Observation], keys: list[str]) -> list[str]: ...

    def end(self, key: str) -> None:
        """The episode ``key`` is over (a model drops its conversation)."""
        ...


def episode_key(spec: EpisodeSpec) -> str:
    return f"{spec.episode_type}-{spec.seed}"


def play_lockstep(
    specs: list[EpisodeSpec],
    policy: BatchPolicy,
    *,
    width: int = 16,
    scenario: Scenario | None = None,
) -> list[Trace]:
    """Play every episode of ``specs``, one decision of each live episode per batch.

    At most ``width`` episodes are live at once (a chat model keeps each one's KV
    cache); when one ends the next starts. Each episode is its own simulator and
    a model's sampling seeds are per episode and step, so the traces are those of
    :func:`play` one at a time, at the cost of one batched decode per step.
    """
    from dojo.env import make_episode

    keys = [episode_key(spec) for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("episode specs must be distinct (type and seed)")
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    episodes: dict[str, BaseEpisode] = {}
    starts: dict[str, tuple[Observation, tuple[PhaseEvent, ...]]] = {}
    live: dict[str, Observation] = {}
    completions: dict[str, list[str]] = {k: [] for k in keys}
    steps: dict[str, list[StepResult]] = {k: [] for k in keys}
    waiting = list(zip(keys, specs, strict=True))[::-1]
    while live or waiting:
        while waiting and len(live) < width:
            key, spec = waiting.pop()
            episodes[key] = make_episode(spec, scenario)
            first, events = episodes[key].start()
            starts[key] = (first, events)
            live[key] = first
        batch = list(live)
        texts = policy.decide_batch([live[k] for k in batch], batch)
        for key, text in zip(batch, texts, strict=True):
            result = episodes[key].step(text)
            completions[key].append(text)
            steps[key].append(result)
            if result.done or result.observation is None:
                del live[key]
                policy.end(key)
            else:
                live[key] = result.observation
    return [
        Trace(
            spec=spec,
            first=starts[key][0],
            start_events=starts[key][1],
            completions=tuple(completions[key]),
            steps=tuple(steps[key]),
            outcome=episodes[key].outcome(),
        )
        for key, spec in zip(keys, specs, strict=True)
    ]
