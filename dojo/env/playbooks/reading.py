"""How scripted policies read an observation: only what the candidate is shown."""

from __future__ import annotations

from typing import Any

from dojo.env.moves import format_move
from dojo.env.protocol import Observation

# a playbook's notes within one episode; free-form by design
Memory = dict[str, Any]


def situation(obs: Observation) -> str:
    """The lower-cased "Situation:" line of the observation text."""
    start = obs.text.find("Situation: ")
    end = obs.text.find("\n", start)
    return obs.text[start:end].lower()


def knows(obs: Observation, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in obs.known)


def known_with(obs: Observation, prefix: str) -> list[str]:
    return [k for k in obs.known if k.startswith(prefix)]


def heard(obs: Observation, fragment: str) -> bool:
    """Whether a message in this observation contains ``fragment``."""
    return any(fragment in m for m in obs.messages)


def offered(obs: Observation, name: str) -> bool:
    return any(m.name == name for m in obs.moves)


def arg_values(obs: Observation, name: str, arg: str) -> tuple[str, ...]:
    spec = next((m for m in obs.moves if m.name == name), None)
    if spec is None:
        return ()
    return next((a.values for a in spec.args if a.name == arg), ())


def say(name: str, text: str = "", **args: str) -> str:
    return format_move(name, args, text)
