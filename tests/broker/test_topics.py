"""Topics are created explicitly, from the one topic table, with its partition counts."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dojo.broker.admin import TopicMismatch, ensure_topics
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.events import EVENT_TYPES
from dojo.topics import TOPIC_OF_EVENT, TOPICS, all_topic_names


def _settings(broker: EmbeddedBroker) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}")


async def test_creates_every_topic_with_the_tables_partitions(broker: EmbeddedBroker) -> None:
    settings = _settings(broker)
    counts = await ensure_topics(settings)
    assert counts == {spec.name(settings.topic_prefix): spec.partitions for spec in TOPICS.values()}
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(all_topic_names(settings.topic_prefix))
    finally:
        await admin.close()
    assert {d["topic"]: len(d["partitions"]) for d in described} == counts
    assert await ensure_topics(settings) == counts  # idempotent


async def test_a_topic_with_the_wrong_partition_count_is_refused(broker: EmbeddedBroker) -> None:
    settings = _settings(broker)
    wrong = f"{settings.topic_prefix}.episodes"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(wrong, 1, 1)])
    finally:
        await admin.close()
    with pytest.raises(TopicMismatch, match=f"{wrong} has 1 \\(want 4\\)"):
        await ensure_topics(settings)


def test_every_event_type_has_a_topic_and_episode_topics_are_copartitioned() -> None:
    assert set(TOPIC_OF_EVENT) == set(EVENT_TYPES)
    keyed = [spec for spec in TOPICS.values() if spec.key == "episode_id"]
    assert len({spec.partitions for spec in keyed}) == 1
    for spec in keyed:
        for event in spec.events:
            assert EVENT_TYPES[event].KEY_FIELD == "episode_id", event
