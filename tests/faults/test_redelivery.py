"""What a recovery delivers twice is used once: the learner and the store under redelivery.

After the embedded broker lost its topics, episodes and trajectories are
published again (by the workers that held them, or from the store); a restarted
learner reads the new topic from its start. A trajectory it trained on before
is skipped (``repeated``), across a restart from its checkpoint, and the
republished events store nothing twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import Stamper, encode
from dojo.store import Received, StoreWriter, open_store
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.training.local import score_events
from dojo.training.trainer import Trainer
from dojo.workers.actors import LMActor, ReferenceActor
from dojo.workers.retention import Retention
from dojo.workers.rollout import rollout


def test_a_restarted_learner_does_not_train_a_redelivered_trajectory_twice(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", learner_max_policy_lag=100, learner_minibatch_size=16
    )
    trainer = Trainer.load(settings)
    actor, stamper = LMActor(trainer.policy), Stamper("test-scorer")
    trajectories = [
        score_events(
            rollout(
                EpisodeSpec(episode_type="E-1.1", seed=n), f"ep-{n}", actor, stamper, timed=False
            ),
            stamper,
        )
        for n in range(4)
    ]
    ids = [str(t.event_id) for t in trajectories]
    first = trainer.train(trajectories[:2])
    assert first.trained == ids[:2] and first.repeated == []
    trainer.checkpoint()
    # the broker lost the topic; the learner restarts from its checkpoint and the first two
    # arrive again, with two it has not seen
    restarted = Trainer.load(settings)
    again = restarted.train(trajectories)
    assert again.repeated == ids[:2]
    assert again.trained == ids[2:]
    assert restarted.state.trajectories_trained == 4


def test_held_episodes_are_resent_when_the_broker_lost_everything() -> None:
    retention = Retention("stored", open_reader=lambda: None)  # type: ignore[arg-type,return-value]
    retention.keep("ep-1", [("t", b"k", b"1")])
    retention.keep("ep-2", [("t", b"k", b"2")], unsent=True)  # its sends failed
    assert [e for e, _ in retention.unsent()] == ["ep-2"]
    retention.broker_lost_everything()
    assert [e for e, _ in retention.unsent()] == ["ep-1", "ep-2"]
    # without retention (an external, replicated Kafka) only what failed is held
    off = Retention("off", open_reader=lambda: None)  # type: ignore[arg-type,return-value]
    off.keep("ep-1", [("t", b"k", b"1")])
    off.keep("ep-2", [("t", b"k", b"2")], unsent=True)
    assert list(off.held) == ["ep-2"]
    assert asyncio.run(asyncio.to_thread(off.settle)) == 1  # the unsent one stays


def test_an_episode_is_settled_only_once_every_event_of_it_is_stored(tmp_path: Path) -> None:
    # the broker lost the episode's first events with its memory; the producer's retries took
    # the last ones, its EpisodeCompleted among them, to the broker that replaced it
    events = list(
        rollout(
            EpisodeSpec(episode_type="E-1.1", seed=3),
            "ep-torn",
            ReferenceActor("senior"),
            Stamper("test-env"),
            timed=False,
        )
    )
    received = [
        Received(e, encode(e), topic_name(TOPIC_OF_EVENT[e.type]), 0, offset)
        for offset, e in enumerate(events)
    ]
    path = tmp_path / "store.duckdb"
    writer = StoreWriter(path)
    writer.write(received[:1] + received[3:])  # its EpisodeStarted, and its end
    retention = Retention("stored", open_reader=lambda: open_store(path))
    retention.keep("ep-torn", [])
    writer.close()
    assert retention.settle() == 1  # held: it is published again when the worker is told

    writer = StoreWriter(path)
    writer.write(received[1:3])
    writer.close()
    assert retention.settle() == 0
