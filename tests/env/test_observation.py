"""The observation text's layout is a contract: the same sections, in the same order.

The policy's compact prompt (``dojo.policy.prompt``) keeps everything before
the moves listing, so the listing must come last and start with ``\\nMoves (``;
scripted policies read the "Situation:" line; ``known`` and ``messages`` are the
same facts as the text's sections.
"""

from __future__ import annotations

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env.episodes.base import MAX_OBSERVATION_CHARS
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import play

SECTIONS = (
    "You are a ",
    "\nPhase: ",
    "\nSituation: ",
    "\nKnown so far:\n",
    "\nMessages:\n",
    "\nMoves (",
)


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_every_observation_has_the_same_layout(episode_type: str) -> None:
    for policy in ("random", "senior"):
        trace = play(
            EpisodeSpec(episode_type=episode_type, seed=4), make_reference_policy(policy, 4)
        )
        # one decided-on observation per completion, the first one first
        decided = trace.observations()
        assert len(decided) == len(trace.completions) and decided[0] == trace.first
        observations = [trace.first, *(s.observation for s in trace.steps if s.observation)]
        for obs in observations:
            text = obs.text
            positions = [text.find(s) for s in SECTIONS]
            assert positions == sorted(positions) and positions[0] == 0 and -1 not in positions
            assert text.count("\nMoves (") == 1
            head, listing = text.split("\nMoves (", 1)
            assert [line[2:].split()[0] for line in listing.splitlines()[1:]] == [
                m.name for m in obs.moves
            ]
            known = head.split("\nKnown so far:\n", 1)[1].split("\nMessages:\n")[0]
            messages = head.split("\nMessages:\n", 1)[1]
            assert known.splitlines() == ([f"- {k}" for k in obs.known] or ["- nothing yet"])
            assert messages.splitlines() == ([f"- {m}" for m in obs.messages] or ["- none"])
            assert f"Episode {episode_type}:" in text and f"Phase: {obs.phase}." in text
            assert len(text) <= MAX_OBSERVATION_CHARS
            assert text.replace("\u2014", "-").isascii()
