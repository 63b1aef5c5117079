"""The live evaluator and the store measure a run alike.

The live path is :class:`~dojo.workers.evaluator.EvaluatorState` fed the decoded
events in log order (it decides the stage changes as they come); the store path is
:func:`~dojo.curriculum.curriculum_from_store` reading the same events from DuckDB
(``dojo curriculum status``). Both must end in the same stage with the same windows.
"""

from __future__ import annotations

from pathlib import Path

from store_support import write_store

from dojo.config import Settings
from dojo.curriculum import curriculum_from_store
from dojo.curriculum_check import play_curriculum
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec
from dojo.events import AnyEvent, StageChanged, Stamper, decode, encode
from dojo.store import open_store
from dojo.workers.actors import ReferenceActor
from dojo.workers.evaluator import EvaluatorState
from dojo.workers.rollout import rollout

WINDOW = 4


def test_live_and_replayed_measurements_agree(tmp_path: Path) -> None:
    events: list[AnyEvent] = []
    # the senior through the four stages (small windows: every stage changes quickly)
    run = play_curriculum("senior", episodes=400, window=WINDOW, on_event=events.append)
    assert sorted(run.graduated) == [1, 2, 3, 4]
    # then what the store holds beside it: episodes still in flight from stages 1 and 3
    # (dealt for a stage that is over), and a held-out evaluation episode
    late = [
        EpisodeSpec(episode_type=t, seed=90 + i, difficulty=0.5, stage=stage)
        for i, (t, stage) in enumerate(
            [("E-1.1", 1), ("E-1.3", 3), ("E-1.2", 1), ("E-3.1", 3), ("E-1.1", 4)]
        )
    ]
    for i, spec in enumerate(late):
        events += rollout(spec, f"late-{i}", ReferenceActor("random"), Stamper("late"))
    held_out = EpisodeSpec(episode_type="E-1.4", seed=HELD_OUT_SEED_BASE + 3, stage=4)
    events += rollout(held_out, "held-out", ReferenceActor("random"), Stamper("late"))

    # live: the evaluator's state, fed what the topics would hand it
    live = EvaluatorState(Settings(stage=1, curriculum_window=WINDOW, curriculum_auto=True))
    for event in events:
        live.on_event(decode(encode(event)))

    # replayed: the store
    path = write_store(tmp_path / "store.duckdb", events)
    reader = open_store(path)
    try:
        stored = curriculum_from_store(reader, stage=1, window=WINDOW)
    finally:
        reader.close()

    changes = [(e.from_stage, e.to_stage) for e in events if isinstance(e, StageChanged)]
    assert changes == [(1, 2), (2, 3), (3, 4), (4, 4)]
    assert live.stage_changes == set(changes)
    assert (live.curriculum.stage, live.curriculum.complete) == (4, True)
    assert (stored.stage, stored.complete) == (4, True)
    assert live.episodes == stored.episodes == run.episodes + len(late)
    assert stored.graduation == live.curriculum.graduation == run.decided[1]
    live_windows = {k: list(v) for k, v in live.curriculum.measurements.items()}
    stored_windows = {k: list(v) for k, v in stored.measurements.items()}
    assert live_windows == stored_windows
    # what was compared: stage 4's windows (the decision-signal metrics among them), and
    # only the late episode dealt for stage 4 joined them
    assert {
        "elicitation_quality",
        "self_correction_rate",
        "intent_match",
        "adaptation_quality",
        "actions_to_productive",
        "velocity_dip",
        "velocity_reference",
    } <= set(live_windows)
    assert stored.status().values == live.curriculum.status().values
