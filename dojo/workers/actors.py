"""Policies behind the :class:`~dojo.workers.rollout.Actor` interface.

``make_actor`` turns the ``DOJO_POLICY`` setting into an actor: a scripted
reference policy (``random``, ``junior``, ``senior``: text only), or a model —
a preset (``tiny``, the default), a model folder or a hub id — served by
:class:`~dojo.policy.LMPolicy`, whose decisions carry the prompt and completion
token ids, the per-token log-probs and the grammar masks actually sampled with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dojo.config import Settings
from dojo.env.protocol import Observation
from dojo.env.reference import REFERENCE_POLICIES, ReferencePolicy, make_reference_policy
from dojo.workers.rollout import Action, Actor

if TYPE_CHECKING:  # torch and transformers load only in workers that serve a model
    from dojo.policy import AdapterRegistry, Generation, LMPolicy


class ReferenceActor:
    """A scripted reference policy: text only, so no token ids and no log-probs.

    A playbook keeps notes on the episode it plays (what it asked, which spike it
    made), so episodes played side by side (``DOJO_ENV_LOCKSTEP``) each get their own
    policy, as :class:`~dojo.eval.drivers.ScriptedSoloPolicy` gives each solo task its
    own: sharing one, the senior read its neighbours' notes and played every type
    worse than it does alone.
    """

    def __init__(self, name: str, seed: int = 0) -> None:
        self._name = name
        self._policy = make_reference_policy(name, seed)
        self._episodes: dict[str, ReferencePolicy] = {}

    @property
    def version(self) -> str:
        return f"reference-{self._name}"

    def act(self, observation: Observation, seed: int) -> Action:
        return Action(text=self._policy.decide(observation), prompt_text=observation.text)

    def act_episodes(
        self, episodes: Sequence[str], observations: Sequence[Observation], seeds: Sequence[int]
    ) -> list[Action]:
        """One move per live episode, each by that episode's own policy."""
        actions = []
        for episode_id, observation, seed in zip(episodes, observations, seeds, strict=True):
            policy = self._episodes.get(episode_id)
            if policy is None:
                # seeded by the episode's first decision seed: the same episode, the same play
                policy = self._episodes[episode_id] = make_reference_policy(self._name, seed)
            actions.append(Action(text=policy.decide(observation), prompt_text=observation.text))
        return actions

    def end_episode(self, episode_id: str) -> None:
        self._episodes.pop(episode_id, None)

    def between_episodes(self) -> None:
        """Scripted policies never change."""


class LMActor:
    """A language model acting through constrained decoding, token-in/token-out."""

    def __init__(self, policy: LMPolicy, registry: AdapterRegistry | None = None) -> None:
        self.policy = policy
        # where the learner publishes; None: the weights never change
        self.registry = registry
        # the acting version's running return per episode type (dojo.workers.focus)
        self.type_returns: dict[str, float] = {}

    @classmethod
    def load(cls, model: str, settings: Settings) -> LMActor:
        """Load ``model`` once for this process (a worker keeps it for all its episodes),
        following the newest adapter the learner published for its base."""
        limit_torch_threads(settings.torch_threads)
        from dojo.policy import AdapterRegistry, LMPolicy
        from dojo.policy.registry import registry_root

        policy = LMPolicy.load(model, settings=settings)
        actor = cls(policy, AdapterRegistry(registry_root(settings.data_dir, policy.source)))
        actor.between_episodes()  # start from the newest version, not from the base
        return actor

    @property
    def version(self) -> str:
        return self.policy.version

    def act(self, observation: Observation, seed: int) -> Action:
        return self.act_batch([observation], [seed])[0]

    def act_batch(self, observations: Sequence[Observation], seeds: Sequence[int]) -> list[Action]:
        """One move per observation, decoded in one batch (one forward pass per step for all)."""
        return [_action(g) for g in self.policy.act_batch(observations, seeds)]

    def act_episodes(
        self, episodes: Sequence[str], observations: Sequence[Observation], seeds: Sequence[int]
    ) -> list[Action]:
        """One move per live episode, decoded in one batch; a chat model continues each
        episode's conversation with its KV cache (:mod:`dojo.policy.conversation`)."""
        return [_action(g) for g in self.policy.act_episodes(episodes, observations, seeds)]

    def end_episode(self, episode_id: str) -> None:
        """The episode is over: its conversation and KV cache are dropped."""
        self.policy.end_episode(episode_id)

    def between_episodes(self) -> None:
        """The seam for picking up a newer adapter: the worker calls it before each episode.

        An episode is acted by one ``policy_version`` from start to end; anything
        that swaps weights (``self.policy.use_adapter``) belongs here, never in
        ``act``. No episode is live here, so any conversation left is dropped too
        (a new adapter drops them all in any case: their caches hold the old weights').
        """
        if self.policy.conversations is not None:
            self.policy.conversations.clear()
        if self.registry is None:
            return
        if (manifest := self.policy.follow(self.registry)) is not None:
            self.type_returns = dict(manifest.type_returns)


def _action(generation: Generation) -> Action:
    return Action(
        text=generation.text,
        prompt_text=generation.prompt,
        prompt_token_ids=generation.prompt_token_ids,
        completion_token_ids=generation.completion_token_ids,
        logprobs=generation.logprobs,
        allowed_token_ids=generation.allowed_token_ids,
        context_offset=generation.context_offset,
        context_restarted=generation.context_restarted,
        finish_reason=generation.finish_reason,
    )


def limit_torch_threads(threads: int) -> None:
    """Cap torch's CPU threads: many worker processes share few cores, and
    oversubscribed threads slow every one of them down."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
        torch.set_num_interop_threads(threads)


class UnknownPolicy(ValueError):
    """``DOJO_POLICY`` names no reference policy, model preset, model folder or hub id."""


def check_policy(policy: str, settings: Settings) -> None:
    """Raise :class:`UnknownPolicy`, with the choices, unless ``policy`` can be acted with.

    ``dojo up`` calls it before it starts anything, so a typo fails the run in seconds
    instead of after every worker's imports and its restarts. For a model it is not
    free: it imports torch and transformers (``dojo.policy``) and readies the tiny
    preset's base in the data folder (built once per machine), which the workers then
    find ready. A model preset's weights may still be missing; loading them says so.
    """
    if policy in REFERENCE_POLICIES:
        return
    from dojo.policy.presets import resolve_model

    try:
        resolve_model(policy, settings.data_dir)
    except ValueError as exc:
        raise UnknownPolicy(
            f"unknown policy {policy!r}: expected a reference policy "
            f"({', '.join(REFERENCE_POLICIES)}), a model preset, a model folder or a hub id"
        ) from exc


def make_actor(policy: str, settings: Settings, seed: int = 0) -> Actor:
    """The actor for ``policy``: a reference policy name, a model preset, folder or hub id.

    Raises :class:`UnknownPolicy` (a ``ValueError``) when ``policy`` is none of these.
    """
    check_policy(policy, settings)  # fails fast, before torch loads any weights
    if policy in REFERENCE_POLICIES:
        return ReferenceActor(policy, seed)
    return LMActor.load(policy, settings)
