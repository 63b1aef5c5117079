"""Same seed, same world, same trace — byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import episode_key, play, play_lockstep
from dojo.env.scenario import generate_scenario


def _json(episode_type: str, policy: str, seed: int) -> str:
    spec = EpisodeSpec(
        episode_type=episode_type, seed=seed, difficulty=0.7, stage=int(episode_type[2])
    )
    return play(spec, make_reference_policy(policy, seed)).model_dump_json()


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_same_seed_gives_identical_trace_json(episode_type: str) -> None:
    for policy in ("random", "senior"):
        assert _json(episode_type, policy, 42) == _json(episode_type, policy, 42)
    assert _json(episode_type, "random", 42) != _json(episode_type, "random", 43)


def test_scenario_is_a_pure_function_of_seed_and_difficulty() -> None:
    a = generate_scenario(9, 0.4).model_dump_json()
    assert a == generate_scenario(9, 0.4).model_dump_json()
    assert a != generate_scenario(10, 0.4).model_dump_json()


def test_trace_is_identical_in_a_fresh_interpreter() -> None:
    """String seeding must not depend on PYTHONHASHSEED."""
    import subprocess
    import sys

    code = (
        "from dojo.env import EpisodeSpec;"
        "from dojo.env.reference import make_reference_policy;"
        "from dojo.env.rollout import play;"
        "import hashlib;"
        "t = play(EpisodeSpec(episode_type='E-1.3', seed=5), make_reference_policy('random', 5));"
        "print(hashlib.sha256(t.model_dump_json().encode()).hexdigest())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(h), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for h in (1, 2)
    }
    assert len(runs) == 1


# --- the event stream: what the environment worker publishes ------------------------


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_same_seed_gives_a_byte_identical_event_stream(episode_type: str) -> None:
    from event_stream import stream

    from dojo.events import DecisionMade, EpisodeCompleted, decode

    for policy in ("random", "junior", "senior"):
        first = stream(episode_type, policy, 42)
        assert first == stream(episode_type, policy, 42)
        assert first != stream(episode_type, policy, 43)
        events = [decode(line) for line in first.split(b"\n")]
        assert len({e.event_id for e in events}) == len(events)
        assert isinstance(events[-1], EpisodeCompleted)
        assert events[-1].event_count == len(events) - 1
        assert any(isinstance(e, DecisionMade) for e in events)


def test_event_stream_is_identical_in_fresh_interpreters() -> None:
    """Nothing in the stream may depend on hash seeds, wall clocks or process state."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("event_stream.py")
    runs = {
        subprocess.run(
            [sys.executable, str(script)],
            env={"PYTHONHASHSEED": str(h), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for h in (3, 4)
    }
    assert len(runs) == 1 and len(runs.pop().strip()) == 64


def test_lockstep_play_gives_the_traces_of_one_at_a_time() -> None:
    specs = [
        EpisodeSpec(episode_type=t, seed=s, difficulty=0.5, stage=1)
        for t in ("E-1.1", "E-1.3")
        for s in (1, 2, 3)
    ]

    class Scripted:
        def __init__(self) -> None:
            self.live = {k: make_reference_policy("senior", 7) for k in map(episode_key, specs)}

        def decide_batch(self, observations: list[Any], keys: list[str]) -> list[str]:
            return [self.live[k].decide(o) for k, o in zip(keys, observations, strict=True)]

        def end(self, key: str) -> None:
            del self.live[key]

    lockstep = play_lockstep(specs, Scripted(), width=4)
    alone = [play(spec, make_reference_policy("senior", 7)) for spec in specs]
    assert [t.model_dump_json() for t in lockstep] == [t.model_dump_json() for t in alone]
