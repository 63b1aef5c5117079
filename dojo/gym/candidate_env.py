"""``dojo/Candidate-v0``: one simulated episode as a text-in, text-out gymnasium env.

The observation is the candidate's prompt (:attr:`Observation.text`); the action
is its raw completion, parsed by the move grammar (garbage is an
``invalid_move`` with a consequence, never an error). The step reward is the
reward function's scalar for that decision
(:func:`dojo.reward.reward_decision`): behaviour credit, transition bonus and
efficiency penalty on every step, plus the outcome credit on the last one — so
the rewards of an episode sum to :func:`dojo.reward.attribute_episode`'s total.
``terminated`` when the episode ends on its own; ``truncated`` at its step cap.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from dojo.env import make_episode, registry
from dojo.env.episodes import BaseEpisode
from dojo.env.episodes.base import MAX_OBSERVATION_CHARS
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec, Observation
from dojo.reward import DecisionRecord, RewardConfig, reward_decision
from dojo.reward.attribution import default_config

# what the simulator writes: printable ASCII and the dash of move usage lines
CHARSET = frozenset(string.printable) | {"\u2014"}
MAX_ACTION_CHARS = 1000
# scenario seeds an env draws: training seeds only; those from HELD_OUT_SEED_BASE up are
# kept for evaluation (an explicit options['seed'] may still name one)
SEED_SPACE = HELD_OUT_SEED_BASE


def family_stage(episode_type: str) -> int:
    """The curriculum stage the type belongs to (E-2.x: stage 2), from its registry record."""
    return registry.get(episode_type).stage


class CandidateEnv(gym.Env[str, str]):
    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (gymnasium declares it per instance)

    def __init__(
        self,
        episode_types: tuple[str, ...] | None = None,
        difficulty: float = 0.5,
        render_mode: str | None = None,
        reward_config: RewardConfig | None = None,
    ) -> None:
        known = registry.codes()
        # None: every type registered now, a registered one included
        episode_types = known if episode_types is None else episode_types
        unknown = set(episode_types) - set(known)
        if unknown or not episode_types:
            raise ValueError(
                f"episode_types must be a non-empty subset of {known}; got {episode_types}"
            )
        self.episode_types = tuple(episode_types)
        self.difficulty = difficulty
        self.render_mode = render_mode
        self.config = reward_config or default_config()
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, charset=CHARSET)
        self.episode: BaseEpisode | None = None
        self.observation: Observation | None = None
        """The structured form of the current text (moves offered, facts known), for scripted policies."""
        self.text = ""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode; ``options`` may fix ``episode_type``, ``seed`` (the scenario's) and ``difficulty``."""
        super().reset(seed=seed)
        options = options or {}
        episode_type = (
            options.get("episode_type")
            or self.episode_types[int(self.np_random.integers(len(self.episode_types)))]
        )
        scenario_seed = int(options.get("seed", self.np_random.integers(SEED_SPACE)))
        spec = EpisodeSpec(
            episode_type=episode_type,
            seed=scenario_seed,
            difficulty=float(options.get("difficulty", self.difficulty)),
            stage=family_stage(episode_type),
        )
        self.episode = make_episode(spec)
        observation, _ = self.episode.start()
        self.observation = observation
        self.text = observation.text
        return self.text, {"spec": spec.model_dump(), "phase": observation.phase}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        episode = self.episode
        index = episode.steps
        result = episode.step(action)
        record = DecisionRecord.from_step(
            f"{episode.spec.episode_type}-{episode.spec.seed}/{index:03d}", result
        )
        reward = reward_decision(
            record,
            index,
            stage=episode.spec.stage,
            baseline_actions=episode.baseline_actions(),
            outcome=episode.outcome() if result.done else None,
            config=self.config,
        )
        if result.observation is not None:
            self.observation = result.observation
            self.text = result.observation.text
        info = {
            "move": result.move.model_dump(),
            "consequences": [c.kind for c in result.consequences],
            "signals": result.signals,
            "reward_vector": reward.vector,
        }
        truncated = result.done and episode.truncated
        return self.text, reward.scalar, result.done and not truncated, truncated, info

    def render(self) -> str | None:
        return self.text if self.render_mode == "ansi" else None
