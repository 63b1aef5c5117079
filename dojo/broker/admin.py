"""Explicit topic creation from the topic table (:mod:`dojo.topics`).

Brokers auto-create unknown topics with their own partition count, which breaks
co-partitioning and Faust tables; so every topic is created before anyone uses it.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.topics import TOPICS


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the topic table says."""


async def ensure_topics(
    settings: Settings, replication_factor: int | None = None
) -> dict[str, int]:
    """Create every topic of the table that is missing; verify the partition counts.

    New topics get ``replication_factor`` replicas (default: ``DOJO_KAFKA_REPLICATION_FACTOR``).

    Returns ``{topic name: partitions}``. Idempotent.
    """
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        wanted = {spec.name(settings.topic_prefix): spec for spec in TOPICS.values()}
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor or settings.kafka_replication_factor,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics(list(wanted))
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        wrong = {
            name: (counts.get(name), spec.partitions)
            for name, spec in wanted.items()
            if counts.get(name) != spec.partitions
        }
        if wrong:
            detail = ", ".join(f"{n} has {got} (want {want})" for n, (got, want) in wrong.items())
            raise TopicMismatch(f"topics with the wrong partition count: {detail}")
        return counts
    finally:
        await admin.close()
