"""Explicit topic creation from the topic table (:mod:`dojo.topics`).

Brokers auto-create unknown topics with their own partition count, which breaks
co-partitioning and Faust tables; so every topic is created before anyone uses it.
:func:`create_topics` does it for any list of topics (the scoring app's internal
ones too); :func:`ensure_topics` for the topic table's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.topics import TOPICS


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the topic table says."""


async def create_topics(
    settings: Settings, topics: Sequence[NewTopic], what: str = "topics"
) -> dict[str, int]:
    """Create those of ``topics`` that are missing; verify every one's partition count.

    Returns ``{topic name: partitions}``. Idempotent, and safe when another
    process creates the same topics meanwhile. A topic that exists with another
    partition count raises :class:`TopicMismatch` (``what`` names the topics).
    """
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in topics if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics([topic.name for topic in topics])
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        wrong = {
            topic.name: (counts.get(topic.name), topic.num_partitions)
            for topic in topics
            if counts.get(topic.name) != topic.num_partitions
        }
        if wrong:
            detail = ", ".join(f"{n} has {got} (want {want})" for n, (got, want) in wrong.items())
            raise TopicMismatch(f"{what} with the wrong partition count: {detail}")
        return counts
    finally:
        await admin.close()


async def ensure_topics(
    settings: Settings, replication_factor: int | None = None
) -> dict[str, int]:
    """Create every topic of the table that is missing; verify the partition counts.

    New topics get ``replication_factor`` replicas (default: ``DOJO_KAFKA_REPLICATION_FACTOR``).

    Returns ``{topic name: partitions}``. Idempotent.
    """
    return await create_topics(
        settings,
        [
            NewTopic(
                spec.name(settings.topic_prefix),
                num_partitions=spec.partitions,
                replication_factor=replication_factor or settings.kafka.replication_factor,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in TOPICS.values()
        ],
    )
