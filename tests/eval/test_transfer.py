"""Team metrics for transfer scores come from the store's training episodes of that version."""

from __future__ import annotations

from pathlib import Path

import pytest

from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec
from dojo.eval.metrics import mean_of, team_measurements
from dojo.eval.transfer import team_metrics
from dojo.events import DecisionMade, EpisodeCompleted, Stamper, encode
from dojo.store import Received, StoreWriter, open_store
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout


def store_episodes(writer: StoreWriter, specs: list[tuple[str, EpisodeSpec, str]]) -> list:  # type: ignore[type-arg]
    """Play and store ``specs``; each completed one as (spec, EpisodeCompleted, its
    decisions' signals in step order)."""
    completed = []
    events = []
    for episode_id, spec, policy in specs:
        decisions = []
        for event in rollout(spec, episode_id, ReferenceActor(policy), Stamper("test")):
            events.append(event)
            if isinstance(event, DecisionMade):
                decisions.append(event.signals)
            if isinstance(event, EpisodeCompleted):
                completed.append((spec, event, decisions))
    writer.write(
        [
            Received(e, encode(e), topic_name(TOPIC_OF_EVENT[e.type]), 0, i)
            for i, e in enumerate(events)
        ]
    )
    return completed


def test_team_metrics_use_the_versions_training_episodes_only(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    writer = StoreWriter(path)
    try:
        training = [
            (f"ep-{t}-{seed}", EpisodeSpec(episode_type=t, seed=seed, difficulty=0.5), "senior")
            for t in ("E-1.1", "E-1.2", "E-1.3", "E-2.3")
            for seed in (1, 2, 3)
        ]
        held_out = [
            ("ep-held", EpisodeSpec(episode_type="E-1.1", seed=HELD_OUT_SEED_BASE + 5), "senior")
        ]
        other = [("ep-random", EpisodeSpec(episode_type="E-1.1", seed=9), "random")]
        counted = store_episodes(writer, training)
        store_episodes(writer, held_out + other)
    finally:
        writer.close()
    reader = open_store(path)
    try:
        team = team_metrics(reader, "reference-senior")
        nobody = team_metrics(reader, "v000042")
    finally:
        reader.close()
    expected: dict[str, list[float | None]] = {}
    for spec, event, decisions in counted:
        measured = team_measurements(
            spec.episode_type, event.outcome.behaviour_metrics, event.outcome.signals, decisions
        )
        for name, value in measured.items():
            expected.setdefault(name, []).append(value)
    for name, values in expected.items():
        assert team[name] == pytest.approx(mean_of(values)), name
    assert team["research_effectiveness"] is None  # no E-1.5 episode was trained
    # intent match and adaptation read the E-1.3 and E-2.3 decisions from the store too
    assert team["intent_match"] is not None and team["adaptation_quality"] is not None
    assert set(nobody.values()) == {None}  # a version with no training has no team metric
