"""Dojo's gymnasium envs, registered with gymnasium as soon as both ``dojo`` and
``gymnasium`` are imported (:func:`register_envs`, called from :mod:`dojo`):

* ``dojo/Team-v0`` — the director's ``Discrete(6)`` env (:mod:`dojo.gym.team_env`);
* ``dojo/Candidate-v0`` — one episode, text in and text out (:mod:`dojo.gym.candidate_env`).

Both pay the reward function's scalar (:mod:`dojo.reward`). The env classes are
imported when first asked for (here, or by ``gymnasium.make``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dojo.gym.candidate_env import CandidateEnv
    from dojo.gym.team_env import TeamEnv

TEAM_ENV_ID = "dojo/Team-v0"
CANDIDATE_ENV_ID = "dojo/Candidate-v0"

#: env id -> where gymnasium finds the env when one is made
ENTRY_POINTS = {
    TEAM_ENV_ID: "dojo.gym.team_env:TeamEnv",
    CANDIDATE_ENV_ID: "dojo.gym.candidate_env:CandidateEnv",
}

__all__ = [
    "CANDIDATE_ENV_ID",
    "ENTRY_POINTS",
    "TEAM_ENV_ID",
    "CandidateEnv",
    "TeamEnv",
    "register_envs",
]


def register_envs() -> None:
    """Register the envs with gymnasium's registry (again: nothing happens)."""
    from gymnasium.envs.registration import register, registry

    for env_id, entry_point in ENTRY_POINTS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point)


def __getattr__(name: str) -> object:
    for entry_point in ENTRY_POINTS.values():
        module, _, cls = entry_point.partition(":")
        if name == cls:
            globals()[name] = value = getattr(importlib.import_module(module), cls)
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
