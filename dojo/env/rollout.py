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
