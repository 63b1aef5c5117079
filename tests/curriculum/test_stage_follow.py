"""Environment workers deal the stage's director episodes and follow StageChanged events."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.curriculum import StageChange, director_specs
from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.events import EpisodeStarted, Stamper, decode, encode
from dojo.topics import Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.env_worker import run_env_worker
from dojo.workers.stage_follower import StageFollower


def test_the_director_deals_each_stage_its_episodes() -> None:
    def families(stage: int) -> Counter[str]:
        specs = director_specs(stage, seed=7)
        drawn = [next(specs) for _ in range(300)]
        assert all(s.stage == stage and s.seed < HELD_OUT_SEED_BASE for s in drawn)
        return Counter(s.episode_type[:3] for s in drawn)

    assert set(families(1)) == {"E-1"}
    assert set(families(2)) == {"E-1", "E-2"}
    assert set(families(3)) == {"E-1", "E-2", "E-3"}
    four = families(4)
    assert set(four) == {"E-1", "E-2", "E-3", "E-4"} and four["E-4"] > 80
    a, b = director_specs(2, seed=7), director_specs(2, seed=7)
    assert [next(a) for _ in range(20)] == [next(b) for _ in range(20)]


async def publish_change(settings: Settings, from_stage: int, to_stage: int) -> None:
    change = StageChange(from_stage, to_stage, 10, {}, 20, "test")
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        topic = topic_name(Topic.EVALS, settings.topic_prefix)
        await producer.send_and_wait(topic, encode(change.event(Stamper("test"), "t")))
    finally:
        await producer.stop()


async def started_specs(settings: Settings) -> list[EpisodeStarted]:
    consumer = AIOKafkaConsumer(
        topic_name(Topic.EPISODES, settings.topic_prefix),
        **aiokafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        events = [decode(r.value) for rs in batches.values() for r in rs]  # type: ignore[arg-type]
        return [e for e in events if isinstance(e, EpisodeStarted)]
    finally:
        await consumer.stop()


def test_workers_start_at_the_logged_stage_and_follow_changes(kafka_settings: Settings) -> None:
    async def scenario() -> tuple[int, int, list[EpisodeStarted]]:
        await publish_change(kafka_settings, 1, 2)
        # a worker started after the change deals stage-2 episodes from the first
        await run_env_worker(kafka_settings, episodes=6, actor=ReferenceActor("random"))
        follower = StageFollower(kafka_settings)
        await follower.start()
        try:
            before = await follower.stage()
            await publish_change(kafka_settings, 2, 3)
            for _ in range(100):  # a change published later shows up between episodes
                if await follower.stage() == 3:
                    break
                await asyncio.sleep(0.05)
            return before, follower.current, await started_specs(kafka_settings)
        finally:
            await follower.stop()

    before, after, started = asyncio.run(scenario())
    assert kafka_settings.stage == 1
    assert (before, after) == (2, 3)
    assert len(started) == 6
    assert {e.spec.stage for e in started} == {2}
