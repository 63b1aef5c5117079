"""Policies driving solo tasks, and the driver that plays many tasks in lockstep.

Any policy plays through the same observations and move grammar as in
training. A language model decodes the current decision of every live task as
one batch (:meth:`dojo.policy.LMPolicy.act_batch`: real, constrained
generation); scripted policies keep one memory per task.

Each decision's sampling seed derives from the task's seed and the decision's
position, so a policy plays a task the same way every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from dojo.env.protocol import Observation
from dojo.env.reference import REFERENCE_POLICIES, ReferencePolicy, make_reference_policy
from dojo.eval.solo import DEFAULT_BUDGET_FACTOR, SoloEpisode, SoloTrace
from dojo.eval.tasks import SoloTask

if TYPE_CHECKING:  # torch loads only where a model is evaluated
    from dojo.policy.lm import LMPolicy


class SoloPolicy(Protocol):
    """A policy as the solo driver sees it."""

    @property
    def version(self) -> str: ...

    def decide_batch(
        self, observations: Sequence[Observation], seeds: Sequence[int], keys: Sequence[str]
    ) -> list[str]:
        """One completion per observation; ``keys`` name the task each belongs to."""
        ...

    def end(self, key: str) -> None:
        """The task ``key`` is over (a model drops its conversation and KV cache)."""
        ...


class ScriptedSoloPolicy:
    """A reference policy (``random``, ``junior``, ``senior``), one instance per task."""

    def __init__(self, name: str) -> None:
        if name not in REFERENCE_POLICIES:
            raise ValueError(
                f"unknown reference policy {name!r}; known: {', '.join(REFERENCE_POLICIES)}"
            )
        self.name = name
        self._per_task: dict[str, ReferencePolicy] = {}

    @property
    def version(self) -> str:
        return f"reference-{self.name}"

    def decide_batch(
        self, observations: Sequence[Observation], seeds: Sequence[int], keys: Sequence[str]
    ) -> list[str]:
        out = []
        for observation, seed, key in zip(observations, seeds, keys, strict=True):
            policy = self._per_task.get(key)
            if policy is None:
                # seeded by the task's first decision seed: the same task, the same play
                policy = self._per_task[key] = make_reference_policy(self.name, seed)
            out.append(policy.decide(observation))
        return out

    def end(self, key: str) -> None:
        self._per_task.pop(key, None)


class LMSoloPolicy:
    """A language model (with or without its adapter, with any system instruction).

    ``without_adapter`` plays the base model by switching the adapter off around
    generation, so a subject and its base share one copy of the weights.
    """

    def __init__(
        self,
        lm: LMPolicy,
        *,
        version: str,
        instruction: str | None = None,
        without_adapter: bool = False,
        batch_size: int = 16,
    ) -> None:
        if instruction is not None:
            lm = lm.with_instruction(instruction, version)
        self.lm: LMPolicy = lm
        self._version = version
        self.without_adapter = without_adapter
        self.batch_size = max(1, batch_size)
        self.generated_tokens = 0

    @property
    def version(self) -> str:
        return self._version

    def decide_batch(
        self, observations: Sequence[Observation], seeds: Sequence[int], keys: Sequence[str]
    ) -> list[str]:
        """Each task is one conversation, its KV cache kept between decisions (as the
        environment workers play; see :meth:`dojo.policy.LMPolicy.act_episodes`)."""
        texts: list[str] = []
        for start in range(0, len(observations), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            episodes = [self._episode(k) for k in keys[chunk]]
            if self.without_adapter:
                with self.lm.reference():
                    generations = self.lm.act_episodes(episodes, observations[chunk], seeds[chunk])
            else:
                generations = self.lm.act_episodes(episodes, observations[chunk], seeds[chunk])
            self.generated_tokens += sum(len(g.completion_token_ids) for g in generations)
            texts.extend(g.text for g in generations)
        return texts

    def end(self, key: str) -> None:
        self.lm.end_episode(self._episode(key))

    def _episode(self, key: str) -> str:
        # policies over one model share its conversations: each keeps its own
        return f"{self._version}/{key}"


Progress = Callable[[int], None]


def run_solo(
    tasks: Sequence[SoloTask],
    policy: SoloPolicy,
    *,
    budget_factor: float = DEFAULT_BUDGET_FACTOR,
    on_task_done: Progress | None = None,
) -> list[SoloTrace]:
    """Play every task with ``policy``, all live tasks' decisions in one batch per step.

    Traces come back in the order of ``tasks``; ``on_task_done`` gets the number
    of tasks finished so far.
    """
    episodes = {
        t.task_id: SoloEpisode(t, policy_version=policy.version, budget_factor=budget_factor)
        for t in tasks
    }
    if len(episodes) != len(tasks):
        raise ValueError("task ids must be unique")
    seeds = {t.task_id: t.seed for t in tasks}
    decisions = dict.fromkeys(episodes, 0)
    live: dict[str, Observation] = {key: ep.start() for key, ep in episodes.items()}
    finished = 0
    while live:
        keys = list(live)
        batch_seeds = [(seeds[k] % 1_000_003) * 1_000 + decisions[k] for k in keys]
        texts = policy.decide_batch([live[k] for k in keys], batch_seeds, keys)
        for key, text in zip(keys, texts, strict=True):
            decisions[key] += 1
            observation = episodes[key].step(text)
            if observation is None:
                del live[key]
                policy.end(key)
                finished += 1
                if on_task_done is not None:
                    on_task_done(finished)
            else:
                live[key] = observation
    return [episodes[t.task_id].trace() for t in tasks]
