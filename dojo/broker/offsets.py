"""Where a partition's log ends, as a fetch sees it.

Tansu (0.6, the embedded broker) answers ListOffsets(latest) — aiokafka's
``end_offsets``, Faust's ``highwaters`` — with the base offset of the partition's
last record batch plus one: a batch of five records at offsets 1-5 reads as an end
of 2. A reader that stops at that end misses the rest of the last batch. A fetch
response's high watermark is right, on Tansu as on Kafka, so the end is read
from one: the records just behind the reported end are fetched, and the response
says where the log ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings

#: how long to wait for the fetch responses that carry the high watermarks
FETCH_TIMEOUT_S = 5.0


async def log_end_offsets(
    settings: Settings, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """The offset after the last record of each of ``partitions``."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        enable_auto_commit=False,
        max_partition_fetch_bytes=1024,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        reported = await consumer.end_offsets(list(partitions))
        consumer.assign(list(partitions))
        # what ListOffsets said stands for a partition no fetch answered in time
        return await fetched_ends(consumer, reported, wait_s=FETCH_TIMEOUT_S)
    finally:
        await consumer.stop()


async def fetched_ends(
    consumer: AIOKafkaConsumer, known: Mapping[TopicPartition, int], *, wait_s: float = 0.0
) -> dict[TopicPartition, int]:
    """Where each partition of ``known`` ends (``consumer`` assigned to them), from one
    fetch just behind the end known so far, and more while a partition has not answered
    within ``wait_s``; never before what was known."""
    for tp, end in known.items():
        consumer.seek(tp, max(end - 1, 0))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    await consumer.getmany(timeout_ms=100)
    while any(consumer.highwater(tp) is None for tp in known) and loop.time() < deadline:
        await consumer.getmany(timeout_ms=100)
    return {tp: max(end, consumer.highwater(tp) or 0) for tp, end in known.items()}
