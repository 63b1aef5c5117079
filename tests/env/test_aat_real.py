"""The AAT adapter against a real agile-agent-team checkout, when one is configured.

Skipped, with the reason, unless ``DOJO_AAT_PATH`` points at an importable AAT
checkout (AAT is optional and on no registry; SPEC §8). AAT's episodes write
under the current directory, so the test runs in a temporary one.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from dojo.config import Settings
from dojo.env import EpisodeSpec
from dojo.env.aat import AATBackend, aat_unavailable_reason
from dojo.events import DecisionMade, EpisodeCompleted, Stamper, decode, encode
from dojo.workers.aat_rollout import aat_events

AAT_PATH = Settings().aat_path
REASON = aat_unavailable_reason(AAT_PATH)
for _name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
    del sys.modules[_name]  # loaded again by the test itself, if at all

pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no AAT checkout: {REASON}")


def test_a_real_aat_episode_translates_into_dojo_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = AATBackend.load(AAT_PATH, workspace=tmp_path / "aat")
    episode = asyncio.run(backend.run_episode(EpisodeSpec(episode_type="E-1.3", seed=11)))
    assert episode.phases and episode.aat_episode_type == "implementation"
    assert set(episode.outcome.signals) <= {"velocity", "coverage", "story_accepted"}
    events = list(aat_events(episode, "aat-real-e13", Stamper("aat")))
    assert isinstance(events[-1], EpisodeCompleted)
    assert events[-1].event_count == len(events) - 1
    assert [decode(encode(e)) for e in events] == events
    assert sum(isinstance(e, DecisionMade) for e in events) == len(episode.decisions())
