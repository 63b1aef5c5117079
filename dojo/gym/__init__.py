"""Dojo's gymnasium envs, registered on import:

* ``dojo/Team-v0`` — the director's ``Discrete(6)`` env (:mod:`dojo.gym.team_env`);
* ``dojo/Candidate-v0`` — one episode, text in and text out (:mod:`dojo.gym.candidate_env`).

Both pay the reward function's scalar (:mod:`dojo.reward`).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from dojo.gym.candidate_env import CandidateEnv
from dojo.gym.team_env import TeamEnv

TEAM_ENV_ID = "dojo/Team-v0"
CANDIDATE_ENV_ID = "dojo/Candidate-v0"

if TEAM_ENV_ID not in registry:
    register(id=TEAM_ENV_ID, entry_point="dojo.gym.team_env:TeamEnv")
if CANDIDATE_ENV_ID not in registry:
    register(id=CANDIDATE_ENV_ID, entry_point="dojo.gym.candidate_env:CandidateEnv")

__all__ = ["CANDIDATE_ENV_ID", "TEAM_ENV_ID", "CandidateEnv", "TeamEnv"]
