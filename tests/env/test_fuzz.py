"""Arbitrary candidate output never crashes the parser, an episode or the text env.

10,000 hypothesis examples drive ``dojo/Candidate-v0`` through episodes of all
13 types, one after another: arbitrary text, near-misses of the grammar and
well-formed moves (so episodes get past their first phase and end). Every
observation must stay inside the env's ``Text`` space, whatever was typed.
"""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode
from dojo.env.moves import MoveSpec, format_move, parse_move
from dojo.gym import CandidateEnv

_NAMES = sorted(
    {
        m.name
        for t in EPISODE_TYPES
        for m in make_episode(EpisodeSpec(episode_type=t, seed=0)).moves()
    }
)
_TOKENS = st.sampled_from(
    [
        "dimension=scope",
        "level=high",
        "x=y",
        "=",
        "==",
        "|",
        "topic=build",
        "kind=api",
        "a=b=c",
        "",
        "ß",
        "\x00",
        "DIMENSION=SCOPE",
    ]
)
near_valid = st.builds(
    lambda name, args, sep, text: " ".join([name, *args]) + sep + text,
    st.sampled_from(_NAMES),
    st.lists(_TOKENS, max_size=4),
    st.sampled_from(["", " | ", "|", " || ", "\n"]),
    st.text(max_size=40),
)
garbage = st.one_of(
    st.text(max_size=200),
    near_valid,
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


# a well-formed move is built from the moves offered at the time, inside the test:
# the strategy itself must not depend on the episode's state
picks = st.tuples(
    st.integers(0, 1_000),
    st.lists(st.integers(0, 20), min_size=3, max_size=3),
    st.text(max_size=60),
)


def well_formed(moves: tuple[MoveSpec, ...], pick: tuple[int, list[int], str]) -> str:
    """A move the grammar accepts right now, its free text arbitrary (unicode included)."""
    index, values, text = pick
    spec = moves[index % len(moves)]
    args = {a.name: a.values[i % len(a.values)] for a, i in zip(spec.args, values, strict=False)}
    return format_move(spec.name, args, text if spec.takes_text else "")


class _Driver:
    """Plays the text env through all episode types, starting the next as one ends."""

    def __init__(self) -> None:
        self.env = CandidateEnv()
        self.n = 0
        self.ended = 0
        self._reset()

    def _reset(self) -> None:
        self.n += 1
        self.env.reset(options={"episode_type": EPISODE_TYPES[self.n % 13], "seed": self.n})

    def step(self, raw: str) -> None:
        text, reward, terminated, truncated, info = self.env.step(raw)
        assert self.env.observation_space.contains(text), "observation left the Text space"
        assert math.isfinite(reward)
        assert info["move"]["valid"] or info["consequences"][0] == "invalid_move"
        if terminated or truncated:
            assert self.env.episode is not None
            self.env.episode.outcome()
            self.ended += 1
            self._reset()


DRIVER = _Driver()


@settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(garbage, picks))
def test_fuzzed_outputs_never_crash_parser_or_env(output: str | tuple[int, list[int], str]) -> None:
    assert DRIVER.env.observation is not None
    moves = DRIVER.env.observation.moves
    raw = output if isinstance(output, str) else well_formed(moves, output)
    move = parse_move(raw, moves)
    assert move.valid or (move.name == "invalid_move" and move.error)
    DRIVER.step(raw)


def test_well_formed_moves_drive_many_episodes_to_their_end() -> None:
    # its own driver: reading the fuzz's count depended on both tests running in one
    # process in file order, which pytest-xdist does not promise (a fresh clone got 0)
    driver, rng = _Driver(), random.Random(0)
    for _ in range(20_000):
        assert driver.env.observation is not None
        pick = (rng.randrange(1_000), [rng.randrange(21) for _ in range(3)], "text")
        driver.step(well_formed(driver.env.observation.moves, pick))
        if driver.ended >= 100:
            break
    assert driver.ended >= 100, driver.ended
