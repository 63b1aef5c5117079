"""Scored trajectories for the learner's tests: real rollouts of the tiny policy, scored locally."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import AnyEvent, Stamper, TrajectoryScored, decode, encode
from dojo.policy import LMPolicy
from dojo.topics import Topic, topic_name
from dojo.training.local import score_events
from dojo.workers.actors import LMActor
from dojo.workers.rollout import rollout


def specs(count: int, first: int = 0, stage: int = 1) -> list[EpisodeSpec]:
    return [
        EpisodeSpec(episode_type=f"E-{stage}.{n % 5 + 1}", seed=n, stage=stage)
        for n in range(first, first + count)
    ]


def scored(
    policy: LMPolicy, episode_specs: list[EpisodeSpec], prefix: str = "ep"
) -> list[TrajectoryScored]:
    """Play each spec with ``policy`` (token record included) and score it without a judge."""
    actor, stamper = LMActor(policy), Stamper("test-scorer")
    return [
        score_events(rollout(spec, f"{prefix}-{n:05d}", actor, stamper, timed=False), stamper)
        for n, spec in enumerate(episode_specs)
    ]


async def publish_trajectories(settings: Settings, trajectories: list[TrajectoryScored]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        topic = topic_name(Topic.TRAJECTORIES, settings.topic_prefix)
        for t in trajectories:
            await producer.send(topic, encode(t), key=t.episode_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: Topic) -> list[AnyEvent]:
    """Everything on ``topic`` up to its end offsets now."""
    name = topic_name(topic, settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    events: list[AnyEvent] = []
    try:
        partitions = [TopicPartition(name, p) for p in sorted(await _partitions(consumer, name))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                events += [decode(r.value) for r in records]
        return events
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, name: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(name)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no topic {name}")


def read_events(settings: Settings, topic: Topic) -> list[AnyEvent]:
    return asyncio.run(read_topic(settings, topic))


def newest_checkpoint_updates(data_dir: Path) -> int:
    """Updates in the newest complete checkpoint under ``data_dir`` (0: none yet)."""
    from dojo.training.checkpoint import latest_checkpoint, read_state

    for root in (Path(data_dir) / "learner").glob("*/checkpoints"):
        folder = latest_checkpoint(root)
        if folder is not None:
            return read_state(folder).updates
    return 0
