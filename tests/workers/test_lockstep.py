"""Episodes played side by side (the environment worker's lockstep) give the same events
as episodes played one by one, and a batching actor gets one batch per round."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dojo.env.moves import format_move
from dojo.env.protocol import EpisodeSpec, Observation
from dojo.events import AnyEvent, Stamper
from dojo.workers.rollout import Action, EpisodeRun, act_all, rollout

SPECS = [
    EpisodeSpec(episode_type=t, seed=100 + i, difficulty=0.3 + 0.1 * i, stage=1)
    for i, t in enumerate(["E-1.1", "E-1.2", "E-1.5", "E-1.4", "E-1.2"])
]


def _first_move(observation: Observation, seed: int) -> Action:
    """Deterministic in the observation and the seed alone, whatever else is running."""
    move = observation.moves[seed % len(observation.moves)]
    args = {a.name: a.values[(seed + observation.step) % len(a.values)] for a in move.args}
    return Action(text=format_move(move.name, args, "x" if move.takes_text else ""),
                  prompt_text=observation.text)  # fmt: skip


class OneAtATime:
    version = "reference-test"

    def act(self, observation: Observation, seed: int) -> Action:
        return _first_move(observation, seed)

    def between_episodes(self) -> None:
        pass


class Batching(OneAtATime):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def act(self, observation: Observation, seed: int) -> Action:
        raise AssertionError("a batching actor is asked for the whole round at once")

    def act_batch(self, observations: Sequence[Observation], seeds: Sequence[int]) -> list[Action]:
        self.batches.append(len(observations))
        return [_first_move(o, s) for o, s in zip(observations, seeds, strict=True)]


def _comparable(events: list[AnyEvent]) -> list[dict[str, object]]:
    return [e.model_dump(mode="json", exclude={"produced_at"}) for e in events]


def _lockstep(actor: OneAtATime) -> dict[str, list[AnyEvent]]:
    stamper = Stamper("test")
    runs = [EpisodeRun(spec, f"ep-{i}", actor.version, stamper) for i, spec in enumerate(SPECS)]
    events = {run.episode_id: run.start() for run in runs}
    while active := [run for run in runs if run.observation is not None]:
        observations = [run.observation for run in active if run.observation is not None]
        actions = act_all(actor, observations, [run.action_seed for run in active])
        for run, action in zip(active, actions, strict=True):
            events[run.episode_id] += run.apply(action, generation_ms=0.0)
    assert all(run.done for run in runs)
    return events


def test_lockstep_episodes_give_the_events_of_episodes_played_one_by_one() -> None:
    one_by_one = {
        f"ep-{i}": list(rollout(spec, f"ep-{i}", OneAtATime(), Stamper("test"), timed=False))
        for i, spec in enumerate(SPECS)
    }
    for actor in (OneAtATime(), Batching()):
        side_by_side = _lockstep(actor)
        assert side_by_side.keys() == one_by_one.keys()
        for episode_id, events in one_by_one.items():
            assert _comparable(side_by_side[episode_id]) == _comparable(events), episode_id
            assert events[-1].event_type == "EpisodeCompleted"


def test_a_batching_actor_decodes_each_round_in_one_call() -> None:
    actor = Batching()
    events = _lockstep(actor)
    decisions = sum(e.event_type == "DecisionMade" for v in events.values() for e in v)
    assert actor.batches[0] == len(SPECS)
    assert actor.batches == sorted(actor.batches, reverse=True)  # finished episodes drop out
    assert sum(actor.batches) == decisions
    assert len(actor.batches) == max(
        sum(e.event_type == "DecisionMade" for e in v) for v in events.values()
    )


def test_a_run_refuses_a_move_once_its_episode_is_over() -> None:
    run = EpisodeRun(SPECS[0], "ep-x", "reference-test", Stamper("test"))
    run.start()
    while run.observation is not None:
        run.apply(_first_move(run.observation, run.action_seed), generation_ms=0.0)
    with pytest.raises(RuntimeError, match="awaits no move"):
        run.apply(Action(text="signal_ready", prompt_text=""), generation_ms=0.0)
