"""Where a partition's log ends: from a fetch, so that a batch's tail counts."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.broker.offsets import log_end_offsets
from dojo.config import Settings
from dojo.topics import Topic, topic_name


def test_the_log_ends_after_the_last_record_of_a_batch(kafka_settings: Settings) -> None:
    options = aiokafka_options(kafka_settings)
    tp = TopicPartition(topic_name(Topic.EPISODES, kafka_settings.topic_prefix), 1)

    async def publish(records: int) -> list[int]:
        # sent together, the records travel as one batch (the embedded broker once read
        # its end as the batch's first offset plus one)
        producer = AIOKafkaProducer(**options, acks="all", linger_ms=50)
        await producer.start()
        try:
            sent = [
                await producer.send(tp.topic, b"x", key=b"k", partition=tp.partition)
                for _ in range(records)
            ]
            return [m.offset for m in await asyncio.gather(*sent)]
        finally:
            await producer.stop()

    async def scenario() -> None:
        assert await log_end_offsets(kafka_settings, [tp]) == {tp: 0}
        offsets = await publish(1) + await publish(5)
        assert offsets == list(range(6))
        assert await log_end_offsets(kafka_settings, [tp]) == {tp: 6}

    asyncio.run(scenario())
