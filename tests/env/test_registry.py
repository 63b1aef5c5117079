"""The episode-type registry: the one place a type is declared, and enough to add one.

A toy type added through ``register`` alone plays end to end through the normal
entry points; every registered type's record is complete and agrees with SPEC §4,
with ``EPISODE_TYPES`` and with what its episodes actually measure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from dojo.curriculum import DIRECTED, episode_measurements, measured_from_decisions
from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode, register, registry, unregister
from dojo.env.aat import AAT_EPISODE_TYPES, DOJO_EPISODE_TYPES
from dojo.env.episodes import EPISODE_CLASSES
from dojo.env.episodes.base import BaseEpisode, Effect, move
from dojo.env.moves import Move, MoveSpec
from dojo.env.playbooks import PLAYBOOKS
from dojo.env.playbooks.reading import Memory, say
from dojo.env.protocol import Observation
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import play
from dojo.eval.metrics import PRIMARY_NAMES, decision_signal_types
from dojo.gym import CANDIDATE_ENV_ID, TeamEnv

#: SPEC §4's catalogue: code -> (name, stage)
SPEC_CATALOGUE = {
    "E-1.1": ("Elicitation", 1),
    "E-1.2": ("Decomposition", 1),
    "E-1.3": ("Implementation", 1),
    "E-1.4": ("Self-monitoring", 1),
    "E-1.5": ("Research", 1),
    "E-2.1": ("Triage", 2),
    "E-2.2": ("Recovery", 2),
    "E-2.3": ("Scope change", 2),
    "E-3.1": ("Borrowing arrival", 3),
    "E-3.2": ("Cross-team dependency", 3),
    "E-4.1": ("Knowledge handoff", 4),
    "E-4.2": ("Onboarding support", 4),
    "E-4.3": ("Compensation", 4),
}
#: SPEC §4's behaviours per type (each record may list more the simulator measures)
SPEC_BEHAVIOURS = {
    "E-1.1": {"B-01", "B-02", "B-03", "B-04"},
    "E-1.2": {"B-05", "B-06", "B-07", "B-08"},
    "E-1.3": {"B-09", "B-10", "B-11", "B-25", "B-26"},
    "E-1.4": {"B-09", "B-10", "B-12", "B-30"},
    "E-1.5": {"B-16", "B-17", "B-04"},
    "E-2.1": {"B-13", "B-14", "B-21"},
    "E-2.2": {"B-10", "B-11", "B-14", "B-15"},
    "E-2.3": {"B-02", "B-13", "B-14", "B-25"},
    "E-3.1": {"B-18", "B-19", "B-20", "B-22"},
    "E-3.2": {"B-06", "B-03", "B-21"},
    "E-4.1": {"B-23", "B-24"},
    "E-4.2": {"B-20", "B-07", "B-22"},
    "E-4.3": {"B-10", "B-12", "B-13", "B-14"},
}
#: the metrics the curriculum measures besides the solo evaluation's primary ones
CURRICULUM_METRICS = {"triage_accuracy", "actions_to_productive", "orientation"}


# --- a toy type, known to Dojo through the registry alone --------------------------------

TOY = "E-3.5"


class StandupEpisode(BaseEpisode):
    """Say where you are at stand-up (B-21, status transparency), then stop."""

    episode_type = TOY
    title = "Stand-up"
    phases = ("standup",)
    step_cap = 4

    def setup(self) -> None:
        self.updated = False
        self.move_set: tuple[MoveSpec, ...] = (
            move("give_update", "tell the team where your work is"),
            move("signal_done", "the stand-up is over", text=False),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        return f"Stand-up with team {self.scenario.team.name}."

    def on_give_update(self, m: Move) -> Effect:
        self.updated = True
        return Effect().add("status_sent", "The team knows.", 0.1).score("B-21", raised_early=1.0)

    def on_signal_done(self, m: Move) -> Effect:
        effect = Effect(done=True).add("plan_complete", "Stand-up over.")
        return effect.score("B-21", audience_match=float(self.updated))

    def outcome_signals(self) -> dict[str, float]:
        told = float(self.updated)
        return {
            "story_accepted": told,
            "tests_passing": 1.0,
            "low_iteration_count": 1.0,
            "velocity": 0.5 + 0.5 * told,
            "low_rework": 1.0,
            "coverage": told,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        return {"B-21": float(self.updated)}

    def baseline_actions(self) -> int:
        return 2


def _senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if memory.setdefault("told", False):
        return say("signal_done")
    memory["told"] = True
    return say("give_update", "Halfway through the story; nothing blocks me.")


def _junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    return say("signal_done")


@pytest.fixture
def toy() -> Iterator[registry.EpisodeType]:
    record = register(
        TOY,
        title="Stand-up",
        stage=3,
        episode=StandupEpisode,
        playbook=SimpleNamespace(senior=_senior, junior=_junior),
        behaviours=("B-21",),
        director=(2,),  # dealt when the candidate is lent out, beside E-3.1 and E-3.2
    )
    yield record
    unregister(TOY)


def test_a_type_added_through_the_registry_alone_plays_end_to_end(
    toy: registry.EpisodeType,
) -> None:
    spec = EpisodeSpec(episode_type=TOY, seed=3, stage=3)
    assert isinstance(make_episode(spec), StandupEpisode)
    # the scripted playbook, through the reference policies and rollout.play
    senior = play(spec, make_reference_policy("senior", 3))
    assert [s.move.name for s in senior.steps] == ["give_update", "signal_done"]
    assert senior.outcome.status == "completed"
    assert senior.outcome.behaviour_metrics == {"B-21": 1.0}
    junior = play(spec, make_reference_policy("junior", 3))
    assert junior.outcome.behaviour_metrics == {"B-21": 0.0}
    # gymnasium's text env, which accepts it and reads its stage from the record
    env = gym.make(CANDIDATE_ENV_ID, episode_types=(TOY,))
    _, info = env.reset(seed=1)
    assert (info["spec"]["episode_type"], info["spec"]["stage"]) == (TOY, 3)
    policy, rewards, terminated = make_reference_policy("senior", 1), [], False
    while not terminated:
        _, reward, terminated, truncated, _ = env.step(policy.decide(env.unwrapped.observation))
        rewards.append(reward)
        assert not truncated
    assert len(rewards) == 2 and all(np.isfinite(rewards))
    env.close()
    # the director deals it with its action, in the curriculum and in dojo/Team-v0
    assert DIRECTED[2] == ("E-3.1", "E-3.2", TOY)
    team = TeamEnv(sprint_length=100)
    team.reset(seed=0)
    assert TOY in {team.step(2)[4]["episode_type"] for _ in range(3)}
    # and once unregistered, Dojo no longer knows it
    unregister(TOY)
    assert TOY not in registry.codes() and TOY not in EPISODE_CLASSES
    with pytest.raises(ValueError, match="unknown episode type"):
        make_episode(spec)


def test_register_refuses_an_incomplete_or_clashing_record() -> None:
    fields: dict[str, Any] = {
        "title": "Stand-up",
        "episode": StandupEpisode,
        "behaviours": ("B-21",),
    }
    playbook = SimpleNamespace(senior=_senior, junior=_junior)
    with pytest.raises(ValueError, match="already registered"):
        register("E-1.1", stage=1, playbook=playbook, **fields)
    with pytest.raises(ValueError, match="stage must be the code's family"):
        register(TOY, stage=2, playbook=playbook, **fields)
    with pytest.raises(ValueError, match=r"StandupEpisode runs E-3\.5"):
        register("E-3.4", stage=3, playbook=playbook, **fields)
    with pytest.raises(ValueError, match="senior and junior"):
        register(TOY, stage=3, playbook=SimpleNamespace(senior=_senior), **fields)
    with pytest.raises(ValueError, match="built-in"):
        unregister("E-1.1")
    assert registry.codes() == EPISODE_TYPES


# --- the built-in records ----------------------------------------------------------------


def test_the_built_in_types_are_the_spec_catalogue() -> None:
    assert registry.BUILT_IN == EPISODE_TYPES == tuple(SPEC_CATALOGUE)
    assert registry.codes() == EPISODE_TYPES
    for code, (title, stage) in SPEC_CATALOGUE.items():
        record = registry.get(code)
        assert (record.title, record.stage) == (title, stage)
        assert SPEC_BEHAVIOURS[code] <= set(record.behaviours), code
        # AAT plays each of SPEC's types; the director deals each
        assert record.aat_name and record.director, code
    for stage in (1, 2, 3, 4):
        assert registry.codes(stage) == tuple(
            c for c, (_, s) in SPEC_CATALOGUE.items() if s == stage
        )


@pytest.mark.parametrize("code", EPISODE_TYPES)
def test_every_registered_type_has_every_field(code: str) -> None:
    record = registry.get(code)
    assert re.fullmatch(r"E-[1-4]\.[1-5]", record.code) and record.stage == int(code[2])
    cls = record.episode_class
    assert issubclass(cls, BaseEpisode) and cls.episode_type == code and cls.title == record.title
    assert EPISODE_CLASSES[code] is cls
    assert callable(record.plays.senior) and callable(record.plays.junior)
    assert PLAYBOOKS[code] is record.plays
    assert record.behaviours == tuple(sorted(set(record.behaviours)))
    assert all(code in DIRECTED[a] for a in record.director)
    assert set(record.decision_metrics) <= set(record.metrics)
    assert set(record.metrics) <= set(PRIMARY_NAMES) | CURRICULUM_METRICS
    if record.aat_name is not None:
        assert AAT_EPISODE_TYPES[code] == record.aat_name
        assert DOJO_EPISODE_TYPES[record.aat_name] == code


@pytest.mark.parametrize("code", EPISODE_TYPES)
def test_a_record_lists_what_its_episodes_measure(code: str) -> None:
    """Its behaviours are those its decisions and outcome score, over scripted play;
    its metrics are those the curriculum measures from such an episode."""
    record = registry.get(code)
    seen: set[str] = set()
    for policy in ("senior", "junior", "random"):
        for seed in range(6):
            spec = EpisodeSpec(episode_type=code, seed=seed, difficulty=0.2 + 0.12 * seed)
            trace = play(spec, make_reference_policy(policy, seed))
            seen |= set(trace.outcome.behaviour_metrics)
            seen |= {key.split("/")[0] for step in trace.steps for key in step.signals}
            measured = episode_measurements(
                code,
                trace.outcome.behaviour_metrics,
                trace.outcome.signals,
                [step.signals for step in trace.steps],
            )
            assert {m for m in measured if "@" not in m} == set(record.metrics)
    assert seen == set(record.behaviours)


def test_the_types_read_from_decisions_are_those_before_the_registry() -> None:
    assert decision_signal_types() == {"E-1.3", "E-2.3"}
    assert measured_from_decisions() == {"E-1.3", "E-2.3", "E-3.1"}
    assert dict(DIRECTED) == {
        0: ("E-1.1", "E-1.2", "E-1.3", "E-1.4", "E-1.5"),
        1: ("E-2.1", "E-2.2"),
        2: ("E-3.1", "E-3.2"),
        3: ("E-2.3",),
        4: ("E-4.1", "E-4.2", "E-4.3"),
        5: ("E-1.1", "E-1.2", "E-1.3", "E-1.4", "E-1.5"),
    }
