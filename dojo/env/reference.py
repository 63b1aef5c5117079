"""Scripted reference policies: ``random``, ``junior`` and ``senior``.

They calibrate the simulator (a senior must out-score a junior, a junior a
random policy, on every stage) and serve as baselines. They read only the
:class:`~dojo.env.protocol.Observation` — its text, known facts, messages and
offered moves — never the scenario's hidden truth.

* ``random`` picks an offered move with random arguments, and one time in ten
  answers with garbage (exercising ``invalid_move``).
* ``junior`` acts at once, asks little, never checkpoints.
* ``senior`` asks the right questions, works risk first, checkpoints well.

Each episode type has a playbook with a ``senior`` and a ``junior`` function (a
module of :mod:`dojo.env.playbooks` for the built-in types), named by its record
in :mod:`dojo.env.registry`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

from dojo.env import registry
from dojo.env.moves import format_move
from dojo.env.playbooks.reading import Memory
from dojo.env.protocol import Observation

PolicyName = Literal["random", "junior", "senior"]
REFERENCE_POLICIES: tuple[str, ...] = ("random", "junior", "senior")
GARBAGE_RATE = 0.1
_GARBAGE = (
    "",
    "I think we should just start coding.",
    "ask_question",
    "signal_ready = now |",
    "```",
)

Play = Callable[[Observation, Memory, random.Random], str]


def random_move(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if rng.random() < GARBAGE_RATE:
        return rng.choice(_GARBAGE)
    spec = rng.choice(obs.moves)
    args = {a.name: rng.choice(a.values) for a in spec.args}
    return format_move(spec.name, args, "let me try this" if spec.takes_text else "")


class ReferencePolicy:
    """A scripted policy; it forgets its notes whenever an episode starts (step 0)."""

    def __init__(self, name: PolicyName, seed: int) -> None:
        if name not in REFERENCE_POLICIES:
            raise ValueError(
                f"unknown reference policy {name!r}; known: {', '.join(REFERENCE_POLICIES)}"
            )
        self.name = name
        self.rng = random.Random(f"{name}:{seed}")
        self.memory: Memory = {}

    def decide(self, observation: Observation) -> str:
        if observation.step == 0:
            self.memory = {}
        return self._play(observation.episode_type)(observation, self.memory, self.rng)

    def _play(self, episode_type: str) -> Play:
        if self.name == "random":
            return random_move
        record = registry.find(episode_type)
        if record is None:
            raise ValueError(f"no {self.name} playbook for episode type {episode_type!r}")
        play: Play = getattr(record.plays, self.name)
        return play


def make_reference_policy(name: str, seed: int) -> ReferencePolicy:
    """``random``, ``junior`` or ``senior``, seeded."""
    return ReferencePolicy(name, seed)  # type: ignore[arg-type]
