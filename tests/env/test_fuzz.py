"""Arbitrary candidate output never crashes the parser or any episode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode
from dojo.env.episodes import BaseEpisode
from dojo.env.moves import parse_move

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
    ]
)
near_valid = st.builds(
    lambda name, args, sep, text: " ".join([name, *args]) + sep + text,
    st.sampled_from(_NAMES),
    st.lists(_TOKENS, max_size=4),
    st.sampled_from(["", " | ", "|", " || "]),
    st.text(max_size=40),
)
outputs = st.one_of(
    st.text(max_size=200), near_valid, st.binary(max_size=60).map(lambda b: b.decode("latin-1"))
)


class _Episodes:
    """Cycles through all episode types, replacing each one as it ends."""

    def __init__(self) -> None:
        self.n = 0
        self.current = self._fresh()

    def _fresh(self) -> BaseEpisode:
        self.n += 1
        episode = make_episode(EpisodeSpec(episode_type=EPISODE_TYPES[self.n % 13], seed=self.n))
        episode.start()
        return episode

    def step(self, raw: str) -> None:
        result = self.current.step(raw)
        if result.done:
            assert result.observation is None
            self.current.outcome()
            self.current = self._fresh()
        else:
            assert result.observation is not None
            assert result.observation.text.isascii() or "\u2014" in result.observation.text


EPISODES = _Episodes()


@settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(outputs)
def test_fuzzed_outputs_never_crash_parser_or_env(raw: str) -> None:
    move = parse_move(raw, EPISODES.current.moves())
    assert move.valid or move.name == "invalid_move"
    EPISODES.step(raw)
