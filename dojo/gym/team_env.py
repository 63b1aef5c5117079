"""``dojo/Team-v0``: the director's env — steer the team's world, watch a candidate act in it.

The action space is SPEC §7's ``Discrete(6)``; each action shapes the next
episode the candidate plays, one of the types the curriculum's director deals
for it (each type's ``director`` actions in :mod:`dojo.env.registry`, read when
the env is made), in turn:

====  ==========================  ==========================================================
 0    no-op                       the team works in peace: a stage-1 episode
 1    inject disturbance          one of the seven types hits: triage of exactly it (E-2.1),
                                  or recovery from it (E-2.2)
 2    swap an agent's role        the candidate is lent out: borrowing or cross-team (E-3.x)
 3    modify the backlog          the product owner adds scope: scope change (E-2.3)
 4    modify team composition     alternately someone leaves (E-4.1 / E-4.3) or joins (E-4.2)
 5    adjust sprint parameters    a shorter sprint and a tighter WIP limit: harder episodes
====  ==========================  ==========================================================

One ``step`` plays one whole episode with the candidate policy (the scripted
senior by default) and returns the reward function's total for it. A sprint is
``sprint_length`` steps (then ``truncated``); the team falls apart
(``terminated``) when attrition leaves fewer than four people.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dojo.env import registry
from dojo.env import story_bank as bank
from dojo.env.protocol import EpisodeSpec
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import Policy, play
from dojo.env.scenario import generate_scenario
from dojo.gym.candidate_env import SEED_SPACE, family_stage
from dojo.reward import DecisionRecord, RewardConfig, attribute_episode
from dojo.reward.attribution import default_config

#: of action 4's types, the one a new hire brings; the others follow a departure
NEW_HIRE = "E-4.2"
MIN_TEAM = 4
MAX_TEAM = 9
SPRINT_DAYS = (5, 15)
WIP_LIMITS = (1, 5)


class TeamEnv(gym.Env[dict[str, Any], np.int64]):
    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (gymnasium declares it per instance)

    def __init__(
        self,
        candidate: str | Policy = "senior",
        difficulty: float = 0.4,
        sprint_length: int = 10,
        render_mode: str | None = None,
        reward_config: RewardConfig | None = None,
    ) -> None:
        self.candidate = candidate
        self.base_difficulty = difficulty
        self.sprint_length = sprint_length
        self.render_mode = render_mode
        self.config = reward_config or default_config()
        # the types registered now: the observation space is fixed once made
        self.episode_types = registry.codes()
        self.directed = registry.directed()
        self.action_space = spaces.Discrete(6)
        self.observation_space = spaces.Dict(
            {
                "episode_type": spaces.Discrete(len(self.episode_types)),
                "team_size": spaces.Discrete(MAX_TEAM + 1),
                "sprint_days": spaces.Discrete(SPRINT_DAYS[1] + 1),
                "wip_limit": spaces.Discrete(WIP_LIMITS[1] + 1),
                "disturbances": spaces.MultiBinary(len(bank.DISTURBANCE_TYPES)),
                "last_reward": spaces.Box(-10.0, 10.0, shape=(1,), dtype=np.float32),
                "velocity": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
            }
        )
        self._reset_state()

    def _reset_state(self) -> None:
        self.team_size = 6
        self.sprint_days = 10
        self.wip_limit = 3
        self.seen: list[str] = []
        self.last_type = self.episode_types[0]
        self.last_reward = 0.0
        self.velocity = 1.0
        self.steps = 0
        self.departures = 0
        #: how often each set of offered types was dealt from (actions offering the same share)
        self.turns: dict[tuple[str, ...], int] = {}

    def _observe(self) -> dict[str, Any]:
        return {
            "episode_type": np.int64(self.episode_types.index(self.last_type)),
            "team_size": np.int64(self.team_size),
            "sprint_days": np.int64(self.sprint_days),
            "wip_limit": np.int64(self.wip_limit),
            "disturbances": np.array(
                [int(k in self.seen) for k in bank.DISTURBANCE_TYPES], dtype=np.int8
            ),
            "last_reward": np.array([np.clip(self.last_reward, -10.0, 10.0)], dtype=np.float32),
            "velocity": np.array([np.clip(self.velocity, 0.0, 1.0)], dtype=np.float32),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_state()
        return self._observe(), {}

    def _difficulty(self) -> float:
        pressure = (
            0.03 * (10 - self.sprint_days)
            + 0.04 * (3 - self.wip_limit)
            + 0.03 * (6 - self.team_size)
        )
        return float(np.clip(self.base_difficulty + pressure, 0.0, 1.0))

    def _in_turn(self, offered: tuple[str, ...]) -> str:
        self.turns[offered] = self.turns.get(offered, 0) + 1
        return offered[self.turns[offered] % len(offered)]

    def _next_episode(self, action: int) -> tuple[str, str | None]:
        """The episode type the action leads to, and the disturbance it forces (if any)."""
        offered = self.directed[action]
        if action == 1:
            kind = bank.DISTURBANCE_TYPES[int(self.np_random.integers(len(bank.DISTURBANCE_TYPES)))]
            self.seen.append(kind)
            return self._in_turn(offered), kind
        if action == 3:
            self.seen.append("scope_creep")
            return self._in_turn(offered), "scope_creep"
        if action == 4:
            leaves = self.departures % 2 == 0
            self.departures += 1
            if leaves:
                self.team_size = max(self.team_size - 1, 0)
                return self._in_turn(tuple(t for t in offered if t != NEW_HIRE)), None
            self.team_size = min(self.team_size + 1, MAX_TEAM)
            return NEW_HIRE, None
        if action == 5:
            self.sprint_days = max(SPRINT_DAYS[0], self.sprint_days - 1)
            self.wip_limit = max(WIP_LIMITS[0], self.wip_limit - 1)
        return self._in_turn(offered), None

    def _policy(self, seed: int) -> Policy:
        if isinstance(self.candidate, str):
            return make_reference_policy(self.candidate, seed)
        return self.candidate

    def step(
        self, action: np.int64 | int
    ) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action must be one of 0..5, got {action!r}")
        episode_type, disturbance = self._next_episode(int(action))
        seed = int(self.np_random.integers(SEED_SPACE))
        spec = EpisodeSpec(
            episode_type=episode_type,
            seed=seed,
            difficulty=self._difficulty(),
            stage=family_stage(episode_type),
        )
        scenario = generate_scenario(seed, spec.difficulty, disturbance=disturbance)
        trace = play(spec, self._policy(seed), scenario)
        decisions = [
            DecisionRecord.from_step(i, r)
            for i, r in zip(trace.decision_ids(), trace.steps, strict=True)
        ]
        reward = attribute_episode(spec, decisions, trace.outcome, config=self.config)
        self.last_type = episode_type
        self.last_reward = reward.total
        self.velocity = trace.outcome.signals.get("velocity", 0.0)
        self.steps += 1
        terminated = self.team_size < MIN_TEAM
        truncated = self.steps >= self.sprint_length and not terminated
        info = {
            "episode_type": episode_type,
            "seed": seed,
            "disturbance": disturbance,
            "decisions": len(trace.steps),
            "outcome": trace.outcome.signals,
            "reward_version": reward.reward_version,
            # what the curriculum measures an episode by (dojo.curriculum)
            "behaviour_metrics": trace.outcome.behaviour_metrics,
            "decision_signals": [step.signals for step in trace.steps],
        }
        return self._observe(), reward.total, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return (
            f"step {self.steps}: last {self.last_type} reward {self.last_reward:.3f}, "
            f"team {self.team_size}, sprint {self.sprint_days} d, WIP {self.wip_limit}"
        )
