"""Policies behind the :class:`~dojo.workers.rollout.Actor` interface."""

from __future__ import annotations

from dojo.env.protocol import Observation
from dojo.env.reference import make_reference_policy
from dojo.workers.rollout import Action, Actor

REFERENCE_POLICIES = ("random", "junior", "senior")


class ReferenceActor:
    """A scripted reference policy: text only, so no token ids and no log-probs."""

    def __init__(self, name: str, seed: int = 0) -> None:
        self._name = name
        self._policy = make_reference_policy(name, seed)

    @property
    def version(self) -> str:
        return f"reference-{self._name}"

    def act(self, observation: Observation, seed: int) -> Action:
        return Action(text=self._policy.decide(observation), prompt_text=observation.text)


def make_actor(policy: str, seed: int = 0) -> Actor:
    if policy in REFERENCE_POLICIES:
        return ReferenceActor(policy, seed)
    raise ValueError(
        f"unknown policy {policy!r}: expected a model preset or one of {', '.join(REFERENCE_POLICIES)}"
    )
