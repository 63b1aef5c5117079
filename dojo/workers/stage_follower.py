"""The curriculum's current stage, as environment workers follow it from the evals topic.

The evaluator publishes a StageChanged event when a stage graduates; a worker
asks :meth:`StageFollower.stage` between episodes and, when it moved, deals the
new stage's episodes (:func:`dojo.curriculum.director_specs`). The first call
reads the topic to its end, so a worker started late begins at the stage the
log says, not at ``DOJO_STAGE``.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.broker.offsets import log_end_offsets
from dojo.config import Settings
from dojo.events import DecodeError, StageChanged, decode
from dojo.topics import Topic, topic_name

log = logging.getLogger(__name__)


class StageFollower:
    """Tracks the highest stage any StageChanged on the evals topic moved to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current = settings.stage
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **aiokafka_options(self.settings), group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        topic = topic_name(Topic.EVALS, self.settings.topic_prefix)
        await consumer.topics()
        self._partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not self._partitions:
            await consumer.stop()
            raise RuntimeError(f"topic {topic} does not exist: create the topics first")
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._consumer = consumer
        ends = await log_end_offsets(self.settings, self._partitions)
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                await self._read(timeout_ms=500)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def stage(self) -> int:
        """The current stage, after whatever arrived since the last call (never waits)."""
        await self._read(timeout_ms=0)
        return self.current

    async def _read(self, timeout_ms: int) -> None:
        assert self._consumer is not None, "start() first"
        batches = await self._consumer.getmany(*self._partitions, timeout_ms=timeout_ms)
        for records in batches.values():
            for record in records:
                try:
                    event = decode(record.value) if record.value is not None else None
                except DecodeError as exc:
                    log.warning("skipping an undecodable evals record: %s", exc)
                    continue
                if isinstance(event, StageChanged) and event.to_stage > self.current:
                    log.info("curriculum: stage %d -> %d", self.current, event.to_stage)
                    self.current = event.to_stage
