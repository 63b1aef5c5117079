"""The curriculum as the store shows it: stage changes and the training episodes' measurements."""

from __future__ import annotations

import json
from pathlib import Path

from store_support import write_store
from typer.testing import CliRunner

from dojo.cli import app
from dojo.curriculum import Curriculum, StageChange, curriculum_from_store, episode_measurements
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec
from dojo.events import EpisodeCompleted, Stamper
from dojo.store import open_store
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout

SPECS = [
    EpisodeSpec(episode_type=t, seed=seed, difficulty=0.4, stage=2)
    for seed in (3, 4)
    for t in ("E-1.1", "E-1.2", "E-3.1")
] + [
    # dealt for stage 1 and still in flight when the stage changed: it counts as a training
    # episode (and as stable velocity), but says nothing about stage 2's criteria
    EpisodeSpec(episode_type="E-1.1", seed=11, difficulty=0.8, stage=1)
]


def test_status_is_rebuilt_from_stored_episodes_and_stage_changes(tmp_path: Path) -> None:
    events = []
    for i, spec in enumerate(SPECS):
        events += rollout(spec, f"ep-{i}", ReferenceActor("senior"), Stamper("test"))
    held_out = EpisodeSpec(episode_type="E-3.1", seed=HELD_OUT_SEED_BASE + 1)
    events += rollout(held_out, "ep-held", ReferenceActor("random"), Stamper("test"))
    change = StageChange(1, 2, 4, {"elicitation_quality": 0.8}, 2, "test")
    events.append(change.event(Stamper("test"), run="r"))
    path = write_store(tmp_path / "store.duckdb", events)

    # the same measurements, fed straight from the events
    expected = Curriculum(stage=2, window=2)
    signals: dict[str, list[dict[str, float]]] = {}
    eliciting: dict[int, list[float | None]] = {1: [], 2: []}
    for e in events:
        if e.type == "DecisionMade":
            signals.setdefault(e.episode_id, []).append(e.signals)  # type: ignore[union-attr]
        if isinstance(e, EpisodeCompleted) and e.episode_id != "ep-held":
            spec = SPECS[int(e.episode_id.split("-")[1])]
            expected.record_all(
                episode_measurements(
                    spec.episode_type,
                    e.outcome.behaviour_metrics,
                    e.outcome.signals,
                    signals[e.episode_id],
                ),
                spec.stage,
            )
            if spec.episode_type == "E-1.1":
                eliciting[spec.stage].append(
                    episode_measurements("E-1.1", e.outcome.behaviour_metrics, {})[
                        "elicitation_quality"
                    ]
                )

    reader = open_store(path)
    try:
        curriculum = curriculum_from_store(reader, stage=1, window=2)
    finally:
        reader.close()
    assert curriculum.stage == 2  # the stored stage change
    assert curriculum.graduation == {"elicitation_quality": 0.8}
    assert curriculum.episodes == len(SPECS)  # the held-out episode is no training
    assert {k: list(v) for k, v in curriculum.measurements.items()} == {
        k: list(v) for k, v in expected.measurements.items()
    }
    assert len(curriculum.measurements["actions_to_productive"]) == 2
    # only the episodes dealt for the current stage count towards its criteria
    assert list(curriculum.measurements["elicitation_quality"]) == eliciting[2]
    assert eliciting[1][0] not in eliciting[2]
    assert len(curriculum.measurements["velocity_reference"]) == 2  # the stage-1 one too

    result = CliRunner().invoke(
        app, ["curriculum", "status", "--store", str(path), "--window", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["stage"] == 2 and status["episodes"] == len(SPECS)
    assert {c["metric"] for c in status["criteria"]} == {"triage_accuracy", "velocity_drop"}
    assert all(c["value"] is None and not c["met"] for c in status["criteria"])
