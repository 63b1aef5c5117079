"""The streaming learner as its own process on the real broker: SIGKILL, resume, account for every id."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dojo.config import Settings
from dojo.events import LearnerUpdated, PolicyVersionPublished
from dojo.policy import AdapterRegistry, LMPolicy
from dojo.policy.registry import registry_root
from dojo.topics import Topic
from dojo.workers.supervisor import child_environment

from .support import (
    newest_checkpoint_updates,
    publish_trajectories,
    read_events,
    scored,
    specs,
)

BATCH = 4
TRAJECTORIES = 24


class LearnerProcess:
    def __init__(self, settings: Settings, log: Path) -> None:
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dojo", "learner"],
                env=child_environment(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log

    def wait_for(self, condition, timeout: float = 240.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"the learner exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; log: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)


def test_a_sigkilled_learner_resumes_and_trains_every_trajectory_exactly_once(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    import asyncio

    settings = kafka_settings.replace(
        learner_batch_size=BATCH,
        learner_publish_every=2,
        learner_checkpoint_every=1,
        learner_max_policy_lag=1000,  # here every trajectory must be trained on
        learner_minibatch_size=16,
        learner_kl_coef=0.01,
    )
    policy = LMPolicy.load("tiny", settings=settings)
    trajectories = scored(policy, specs(TRAJECTORIES))
    produced = {str(t.event_id) for t in trajectories}
    asyncio.run(publish_trajectories(settings, trajectories))

    first = LearnerProcess(settings, tmp_path / "learner-1.log")
    first.wait_for(lambda: newest_checkpoint_updates(settings.data_dir) >= 2)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    killed_at = newest_checkpoint_updates(settings.data_dir)

    second = LearnerProcess(settings, tmp_path / "learner-2.log")
    second.wait_for(lambda: newest_checkpoint_updates(settings.data_dir) >= TRAJECTORIES // BATCH)
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(60) == 0, second.log.read_text()[-3000:]
    assert "learner ready" in second.log.read_text()
    assert f"{killed_at} updates so far" in second.log.read_text()

    updates = {
        e.event_id: e for e in read_events(settings, Topic.LEARNER) if isinstance(e, LearnerUpdated)
    }.values()
    # one event per update, the numbering continues across the kill, one lineage
    assert sorted(u.update for u in updates) == list(range(1, TRAJECTORIES // BATCH + 1))
    assert len({u.lineage for u in updates}) == 1
    # every produced trajectory trained exactly once: none twice, none skipped
    trained = Counter(t for u in updates for t in u.trajectory_ids)
    assert set(trained) == produced
    assert set(trained.values()) == {1}
    assert all(not u.dropped_ids and not u.skipped_ids for u in updates)
    for u in updates:
        for name in ("loss", "policy_loss", "kl_to_reference", "entropy", "clip_fraction"):
            assert name in u.metrics
        for name in ("reward_mean", "policy_lag", "idle_ratio"):
            assert name in u.metrics

    # the version sequence continues across the kill: v1, v2, v3, each the next one's parent
    published = {
        e.event_id: e
        for e in read_events(settings, Topic.POLICY)
        if isinstance(e, PolicyVersionPublished)
    }.values()
    versions = sorted(published, key=lambda e: e.policy_version)
    names = [v.policy_version for v in versions]
    assert names == [f"v{n:06d}" for n in range(1, len(names) + 1)]
    assert len(names) == TRAJECTORIES // BATCH // 2
    assert [v.parent_version for v in versions] == [None, *names[:-1]]
    assert [v.updates for v in versions] == [2 * n for n in range(1, len(names) + 1)]
    registry = AdapterRegistry(registry_root(settings.data_dir, policy.source))
    assert [m.version for m in registry.versions()] == names

    # TensorBoard event files beside the checkpoints
    assert list((settings.data_dir / "learner").glob("*/tensorboard/*/events.out.tfevents.*"))


@pytest.mark.parametrize("payload", [b"not json", b'{"type": "EpisodeStarted"}'])
def test_a_bad_message_becomes_a_dead_letter_and_training_goes_on(
    kafka_settings: Settings, tmp_path: Path, payload: bytes
) -> None:
    import asyncio

    from aiokafka import AIOKafkaProducer

    from dojo.events import DeadLetter
    from dojo.topics import topic_name

    settings = kafka_settings.replace(learner_batch_size=2, learner_max_policy_lag=1000)
    policy = LMPolicy.load("tiny", settings=settings)
    trajectories = scored(policy, specs(2))

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
        await producer.start()
        # on the partition of the first trajectory, before it: the update that trains
        # that trajectory must have passed (and dead-lettered) this message first
        await producer.send_and_wait(
            topic_name(Topic.TRAJECTORIES, settings.topic_prefix),
            payload,
            key=trajectories[0].episode_id.encode(),
        )
        await producer.stop()
        await publish_trajectories(settings, trajectories)

    asyncio.run(publish())
    learner = LearnerProcess(settings, tmp_path / "learner.log")
    learner.wait_for(lambda: newest_checkpoint_updates(settings.data_dir) >= 1)
    learner.process.send_signal(signal.SIGTERM)
    assert learner.process.wait(60) == 0
    letters = [e for e in read_events(settings, Topic.DEAD_LETTERS) if isinstance(e, DeadLetter)]
    assert [(d.consumer, d.offset) for d in letters] == [("learner", 0)]
    updates = [e for e in read_events(settings, Topic.LEARNER) if isinstance(e, LearnerUpdated)]
    assert {t for u in updates for t in u.trajectory_ids} == {str(t.event_id) for t in trajectories}
