"""The AAT adapter against a stand-in of the documented ``src.rl`` surface (SPEC §8).

``tests/env/aat_standin`` is a small checkout-shaped package named ``src`` with
every documented name, async episode and phase calls, AAT-shaped decision
traces (tracer reset every phase) and AAT's own B-codes. A real checkout is
exercised by ``test_aat_real.py`` when ``DOJO_AAT_PATH`` points at one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env.aat import (
    AAT_CODE_MAP,
    AAT_EPISODE_TYPES,
    UNMAPPED_AAT_CODES,
    AATBackend,
    AATUnavailable,
    load_aat,
    map_code,
    map_codes,
)
from dojo.env.scorer import score_trace
from dojo.events import DecisionMade, EpisodeCompleted, EpisodeStarted, Stamper, decode, encode
from dojo.reward import DecisionRecord, attribute_episode
from dojo.workers.aat_rollout import aat_events

STANDIN = Path(__file__).parent / "aat_standin"
DOJO_CODES = {f"B-{i:02d}" for i in range(1, 31)}


def _forget_src() -> None:
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    while str(STANDIN.resolve()) in sys.path:
        sys.path.remove(str(STANDIN.resolve()))


@pytest.fixture
def rl() -> Iterator[ModuleType]:
    _forget_src()
    yield load_aat(STANDIN)
    _forget_src()


@pytest.fixture
def backend(rl: ModuleType, tmp_path: Path) -> AATBackend:
    return AATBackend(rl, workspace=tmp_path / "aat")


def _fixed_clock() -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _checkout(root: Path, rl_source: str) -> Path:
    (root / "src" / "rl").mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "rl" / "__init__.py").write_text(rl_source)
    return root


# --- loading ----------------------------------------------------------------------


def test_importing_the_adapter_does_not_import_aat() -> None:
    import subprocess

    code = "import sys, dojo.env.aat, dojo.workers.aat_rollout; print('src' in sys.modules)"
    env = {"DOJO_AAT_PATH": str(STANDIN), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_load_explains_every_way_aat_can_be_missing(tmp_path: Path) -> None:
    _forget_src()
    with pytest.raises(AATUnavailable, match="DOJO_AAT_PATH is not set"):
        load_aat(None)
    with pytest.raises(AATUnavailable, match="not an AAT checkout"):
        load_aat(tmp_path)
    broken = _checkout(tmp_path / "broken", "import prometheus_client_missing_here\n")
    with pytest.raises(AATUnavailable, match="prometheus_client_missing_here"):
        load_aat(broken)
    # a failed import leaves the process as it was
    assert "src" not in sys.modules and str(broken.resolve()) not in sys.path
    partial = _checkout(tmp_path / "partial", "class ScenarioCatalog: ...\n")
    with pytest.raises(AATUnavailable, match="lacks EpisodeRunner"):
        load_aat(partial)
    assert "src" not in sys.modules


def test_another_package_named_src_is_never_mixed_up(rl: ModuleType, tmp_path: Path) -> None:
    other = _checkout(tmp_path / "other", "")
    with pytest.raises(AATUnavailable, match="different package named 'src'"):
        load_aat(other)
    assert load_aat(STANDIN) is rl  # the same checkout again is fine


# --- the code table ----------------------------------------------------------------


def test_code_table_covers_aat_and_names_only_canonical_codes(rl: ModuleType) -> None:
    assert set(AAT_CODE_MAP) == set(rl.BEHAVIORAL_CODES) == DOJO_CODES
    for code, row in AAT_CODE_MAP.items():
        assert row.aat_name == rl.BEHAVIORAL_CODES[code].name
        assert (row.dojo_code is None) == (row.fit is None)
        assert row.dojo_code is None or row.dojo_code in DOJO_CODES
        assert row.note, f"{code} needs a reason for its mapping"
    assert UNMAPPED_AAT_CODES == ("B-04", "B-07", "B-09", "B-23", "B-25")


def test_aat_labels_are_translated_not_passed_through() -> None:
    # SPEC §2's caution: AAT B-04 estimates story points, B-12 searches prior art
    assert map_code("B-04") is None
    assert map_code("B-12") == "B-16"
    assert map_code("B-08") == "B-19"
    passed_through = [c for c, row in AAT_CODE_MAP.items() if row.dojo_code == c]
    assert len(passed_through) <= 3, passed_through
    mapped = map_codes(["B-17", "B-18", "B-17", "B-07", "B-99"])
    assert mapped.dojo == ("B-11",)
    assert mapped.unmapped == ("B-07",)
    assert mapped.unknown == ("B-99",)


def test_every_dojo_episode_type_has_an_aat_counterpart(rl: ModuleType) -> None:
    assert set(AAT_EPISODE_TYPES) == set(EPISODE_TYPES)
    assert set(AAT_EPISODE_TYPES.values()) == set(rl.EPISODE_TYPES)


# --- driving AAT ---------------------------------------------------------------------


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_run_episode_translates_phases_decisions_and_codes(
    backend: AATBackend, rl: ModuleType, episode_type: str
) -> None:
    spec = EpisodeSpec(episode_type=episode_type, seed=7, difficulty=0.6)
    episode = asyncio.run(backend.run_episode(spec))
    aat_type = AAT_EPISODE_TYPES[episode_type]
    phases = rl.EPISODE_TYPES[aat_type]["phases"]
    assert episode.aat_episode_type == aat_type
    assert [p.phase for p in episode.phases] == phases
    mine = episode.decisions()
    assert mine and all(d.agent_id == "dev_mid_backend" and d.candidate for d in mine)
    assert len(episode.decisions(candidate_only=False)) > len(mine)
    assert all(len(d.context) <= 500 for d in episode.decisions(candidate_only=False))
    # the tracer only kept the last phase: its decisions carry content
    assert all(d.action_content for d in episode.phases[-1].decisions)
    expected = map_codes(rl.EPISODE_TYPES[aat_type]["target_behaviors"])
    assert episode.expected == expected
    assert episode.outcome.behaviour_metrics == {}, "keyword detections are never metrics"
    assert set(episode.outcome.signals) <= {"velocity", "coverage", "story_accepted"}
    assert episode.outcome.status == "completed"


def test_implementation_outcome_and_expected_behaviours(backend: AATBackend) -> None:
    episode = asyncio.run(backend.run_episode(EpisodeSpec(episode_type="E-1.3", seed=3)))
    assert episode.expected.dojo == ("B-19",)
    assert episode.expected.unmapped == ("B-07", "B-09")
    assert episode.outcome.signals == {"velocity": 0.6, "coverage": 0.8, "story_accepted": 1.0}
    assert "tests_passing" not in episode.outcome.signals, "unmeasured is absent, not zero"
    assert episode.reward["total"] > 0
    assert [d.action_type for d in episode.decisions()] == ["execute_coding_task"] * 2


def test_run_phases_keeps_every_phase_content_and_stops_at_a_failure(
    backend: AATBackend,
) -> None:
    from src.team import SprintManager  # the stand-in's team

    spec = EpisodeSpec(episode_type="E-4.3", seed=1)
    episode = asyncio.run(backend.run_phases(spec, SprintManager()))
    assert [p.phase for p in episode.phases] == ["planning", "development", "qa_review", "retro"]
    assert all(d.action_content for d in episode.decisions(candidate_only=False))
    qa = next(p for p in episode.phases if p.phase == "qa_review")
    assert all(d.outcome == "accepted" for d in qa.decisions)
    qa_steps = [d.as_step() for d in qa.decisions]
    assert [c.kind for s in qa_steps for c in s.consequences] == ["aat_outcome"] * len(qa_steps)
    assert score_trace(qa_steps).detections == ()
    assert episode.outcome.signals == {}

    failed = asyncio.run(backend.run_phases(spec, SprintManager(fail=("development",))))
    assert [p.phase for p in failed.phases] == ["planning", "development"]
    assert failed.phases[-1].error == "development crashed"
    assert failed.outcome.status == "truncated"


# --- events ----------------------------------------------------------------------------


def test_aat_episode_becomes_a_valid_replayable_event_stream(backend: AATBackend) -> None:
    episode = asyncio.run(backend.run_episode(EpisodeSpec(episode_type="E-1.4", seed=5)))
    events = list(aat_events(episode, "aat-e14-5", Stamper("aat", clock=_fixed_clock)))
    assert isinstance(events[0], EpisodeStarted) and "via AAT self_monitoring" in events[0].scenario
    assert isinstance(events[-1], EpisodeCompleted)
    assert events[-1].event_count == len(events) - 1
    decisions = [e for e in events if isinstance(e, DecisionMade)]
    assert len(decisions) == len(episode.decisions()) == events[-1].outcome.decisions
    for i, d in enumerate(decisions):
        assert d.step == i and d.decision_id == f"aat-e14-5/{i:03d}"
        assert d.move.name.startswith("aat_") and d.move.valid
        assert d.completion_token_ids == [] and d.logprobs == []  # text only, nothing invented
    assert [decode(encode(e)) for e in events] == events
    again = list(aat_events(episode, "aat-e14-5", Stamper("aat", clock=_fixed_clock)))
    assert [encode(e) for e in again] == [encode(e) for e in events]
    everyone = list(
        aat_events(episode, "aat-e14-5", Stamper("aat", clock=_fixed_clock), candidate_only=False)
    )
    assert sum(isinstance(e, DecisionMade) for e in everyone) == len(
        episode.decisions(candidate_only=False)
    )


def test_aat_decisions_flow_through_scoring_without_invented_signals(
    backend: AATBackend,
) -> None:
    spec = EpisodeSpec(episode_type="E-1.3", seed=3)
    episode = asyncio.run(backend.run_episode(spec))
    steps = [d.as_step() for d in episode.decisions()]
    assert score_trace(steps).detections == (), "AAT text is never keyword-scored"
    records = [DecisionRecord.from_step(f"d{i}", s) for i, s in enumerate(steps)]
    reward = attribute_episode(spec, records, episode.outcome)
    present = {c for r in reward.decisions for c in r.components_present}
    assert present == {"outcome/story_accepted", "outcome/velocity", "outcome/coverage"}
