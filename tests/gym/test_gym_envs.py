"""Both gymnasium envs: registered on import, pass check_env, and mean what they say."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import dojo.gym
from dojo.curriculum import DIRECTED, director_specs
from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env import story_bank as bank
from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import play
from dojo.gym import CANDIDATE_ENV_ID, TEAM_ENV_ID, CandidateEnv, TeamEnv
from dojo.reward import DecisionRecord, attribute_episode


@pytest.mark.parametrize("env_id", [TEAM_ENV_ID, CANDIDATE_ENV_ID])
def test_registered_on_import_and_check_env_passes_without_warnings(env_id: str) -> None:
    assert env_id in gym.registry
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=False)
    assert [str(w.message) for w in caught] == []
    env.close()


def test_team_env_has_the_seed_director_spaces() -> None:
    env = gym.make(TEAM_ENV_ID)
    assert env.action_space == spaces.Discrete(6)
    assert isinstance(env.observation_space, spaces.Dict)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)


# what each Discrete(6) action (SPEC §7) leads to
ACTION_EPISODES = {
    0: {"E-1.1", "E-1.2", "E-1.3", "E-1.4", "E-1.5"},
    1: {"E-2.1", "E-2.2"},
    2: {"E-3.1", "E-3.2"},
    3: {"E-2.3"},
    4: {"E-4.1", "E-4.2", "E-4.3"},
    5: {"E-1.1", "E-1.2", "E-1.3", "E-1.4", "E-1.5"},
}


@pytest.mark.parametrize("action", range(6))
def test_each_director_action_steers_the_next_episode(action: int) -> None:
    env = TeamEnv(sprint_length=50)
    obs, _ = env.reset(seed=action)
    before = dict(obs)
    obs, reward, _, _, info = env.step(action)
    assert info["episode_type"] in ACTION_EPISODES[action]
    assert env.observation_space.contains(obs)
    assert np.isfinite(reward) and info["decisions"] > 0
    assert EPISODE_TYPES[int(obs["episode_type"])] == info["episode_type"]
    if action == 1:
        assert info["disturbance"] in bank.DISTURBANCE_TYPES
        assert obs["disturbances"][bank.DISTURBANCE_TYPES.index(info["disturbance"])] == 1
    if action == 3:
        assert info["disturbance"] == "scope_creep"
    if action == 4:
        assert obs["team_size"] == before["team_size"] - 1  # the first change is a departure
    if action == 5:
        assert obs["sprint_days"] < before["sprint_days"]
        assert obs["wip_limit"] < before["wip_limit"]


def test_the_director_env_and_the_curriculum_offer_the_same_types_per_action() -> None:
    # the curriculum deals from this table (stage 2's director injects disturbances,
    # action 1: E-2.1 and E-2.2 both come up)
    assert {action: set(types) for action, types in DIRECTED.items()} == ACTION_EPISODES
    stage2 = director_specs(2, seed=1)
    assert {"E-2.1", "E-2.2"} <= {next(stage2).episode_type for _ in range(200)}
    # and dojo/Team-v0 plays every type of the action, and nothing else
    for action, types in DIRECTED.items():
        env = TeamEnv(sprint_length=100)
        env.reset(seed=action)
        played = {env.step(action)[4]["episode_type"] for _ in range(2 * len(types))}
        assert played == set(types), action


def test_injected_disturbances_cover_all_seven_types() -> None:
    env = TeamEnv(sprint_length=200)
    env.reset(seed=3)
    seen = {env.step(1)[4]["disturbance"] for _ in range(60)}
    assert seen == set(bank.DISTURBANCE_TYPES)


def test_attrition_terminates_and_the_sprint_truncates() -> None:
    env = TeamEnv(sprint_length=100)
    env.reset(seed=0)
    ends = [env.step(4)[2] for _ in range(5)]
    # 6 people: leave (5), join (6), leave (5), join (6), leave (5) -- never below four
    assert not any(ends)
    env.reset(seed=0)
    env.team_size = 4
    assert env.step(4)[2] is True  # the fourth person leaves: the team falls apart

    short = TeamEnv(sprint_length=3)
    short.reset(seed=0)
    flags = [short.step(0)[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_team_env_is_seeded_and_rejects_unknown_actions() -> None:
    def rewards(seed: int) -> list[float]:
        env = TeamEnv()
        env.reset(seed=seed)
        return [float(env.step(a)[1]) for a in (0, 1, 2, 3, 4, 5)]

    assert rewards(5) == rewards(5)
    assert rewards(5) != rewards(6)
    env = TeamEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"0\.\.5"):
        env.step(6)


def test_senior_candidate_earns_more_than_random_in_the_director_env() -> None:
    def mean(candidate: str) -> float:
        env = TeamEnv(candidate=candidate, sprint_length=30)
        env.reset(seed=11)
        return float(np.mean([env.step(a % 6)[1] for a in range(30)]))

    assert mean("senior") > mean("random")


def test_candidate_env_has_text_spaces_and_fixed_episodes() -> None:
    env = gym.make(CANDIDATE_ENV_ID)
    assert isinstance(env.observation_space, spaces.Text)
    assert isinstance(env.action_space, spaces.Text)
    text, info = env.reset(seed=0, options={"episode_type": "E-2.1", "seed": 9})
    assert info["spec"]["episode_type"] == "E-2.1" and info["spec"]["seed"] == 9
    assert "Episode E-2.1" in text and env.observation_space.contains(text)


def test_candidate_env_rewards_sum_to_the_episode_reward() -> None:
    for episode_type in ("E-1.1", "E-2.2", "E-4.3"):
        spec = EpisodeSpec(
            episode_type=episode_type, seed=21, difficulty=0.5, stage=int(episode_type[2])
        )
        env = CandidateEnv(difficulty=0.5)
        text, _ = env.reset(options={"episode_type": episode_type, "seed": 21})
        policy = make_reference_policy("senior", 21)
        total, done = 0.0, False
        while not done:
            assert env.observation is not None and env.observation.text == text
            text, reward, terminated, truncated, _ = env.step(policy.decide(env.observation))
            total += reward
            done = terminated or truncated
        assert terminated and not truncated
        trace = play(spec, make_reference_policy("senior", 21))
        records = [
            DecisionRecord.from_step(d, r)
            for d, r in zip(trace.decision_ids(), trace.steps, strict=True)
        ]
        expected = attribute_episode(trace.spec, records, trace.outcome).total
        assert total == pytest.approx(expected)


def test_candidate_env_turns_garbage_into_invalid_moves_and_truncates_at_the_cap() -> None:
    env = CandidateEnv()
    env.reset(options={"episode_type": "E-1.4", "seed": 2})
    assert env.episode is not None
    cap = env.episode.step_cap
    for i in range(cap):
        _, reward, terminated, truncated, info = env.step("\x00 not a move |||")
        assert info["move"]["name"] == "invalid_move"
        assert info["consequences"][0] == "invalid_move"
        assert reward <= 0.0
        assert not terminated
        assert truncated == (i == cap - 1)
    with pytest.raises(RuntimeError, match="reset"):
        CandidateEnv().step("check_progress")


def test_envs_draw_training_seeds_only() -> None:
    """Seeds from HELD_OUT_SEED_BASE up are evaluation's; an env never deals one itself."""
    candidate = CandidateEnv()
    drawn = [candidate.reset(seed=s)[1]["spec"]["seed"] for s in range(300)]
    team = TeamEnv(candidate="random")
    team.reset(seed=0)
    for _ in range(30):
        _, _, terminated, truncated, info = team.step(0)
        drawn.append(info["seed"])
        if terminated or truncated:
            team.reset()
    assert all(0 <= s < HELD_OUT_SEED_BASE for s in drawn)
    # both halves of the training range are reached: the bound is the range, not a typo
    assert any(s >= HELD_OUT_SEED_BASE // 2 for s in drawn)
    held_out = candidate.reset(options={"seed": HELD_OUT_SEED_BASE + 3})[1]["spec"]["seed"]
    assert held_out == HELD_OUT_SEED_BASE + 3


def test_module_exports() -> None:
    assert dojo.gym.TEAM_ENV_ID == "dojo/Team-v0"
    assert dojo.gym.CANDIDATE_ENV_ID == "dojo/Candidate-v0"


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("first", ["dojo", "gymnasium"])
def test_importing_dojo_is_enough_to_make_its_envs(first: str) -> None:
    second = "gymnasium" if first == "dojo" else "dojo"
    made = _python(
        f"import {first}\nimport {second}\nimport gymnasium\n"
        "for env_id in ('dojo/Team-v0', 'dojo/Candidate-v0'):\n"
        "    env = gymnasium.make(env_id)\n"
        "    env.reset(seed=0)\n"
        "    print(type(env.unwrapped).__name__)"
    )
    assert made.split() == ["TeamEnv", "CandidateEnv"]


def test_importing_dojo_imports_neither_gymnasium_nor_torch() -> None:
    heavy = _python(
        "import sys, dojo; print(sorted({'gymnasium', 'torch', 'numpy'} & set(sys.modules)))"
    )
    assert heavy == "[]"
