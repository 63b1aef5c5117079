"""What the monitor reads off the broker: consumer-group lag, and the drift topic as it flows.

Nothing here joins a consumer group (no rebalance is ever triggered by
watching). Lag is the partitions' high watermark minus the group's committed
offset, over the partitions the group has committed on; watermarks come from
fetch responses, because the embedded Tansu broker answers ListOffsets(latest)
with the base offset of the last batch (see :mod:`dojo.workers.progress`).
"""

from __future__ import annotations

import contextlib
from collections import deque

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dojo.broker.connection import aiokafka_options
from dojo.broker.offsets import fetched_ends
from dojo.config import Settings
from dojo.events import DecodeError, DriftAlert, DriftWindow, decode
from dojo.topics import TOPICS, Topic


class BrokerWatch:
    """Consumer lag per group, and the drift topic's latest windows and alerts."""

    def __init__(self, settings: Settings, keep: int = 2000) -> None:
        self.settings = settings
        options = aiokafka_options(settings)
        self._options = options
        self._partitions = [
            TopicPartition(spec.name(settings.topic_prefix), p)
            for spec in TOPICS.values()
            for p in range(spec.partitions)
        ]
        self._watermarks = AIOKafkaConsumer(
            **options, max_partition_fetch_bytes=1024, fetch_max_wait_ms=20
        )
        drift = TOPICS[Topic.DRIFT]
        self._drift_partitions = [
            TopicPartition(drift.name(settings.topic_prefix), p) for p in range(drift.partitions)
        ]
        self._drift = AIOKafkaConsumer(**options, enable_auto_commit=False, fetch_max_wait_ms=50)
        self._admin = AIOKafkaAdminClient(**options, request_timeout_ms=5_000)
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._known: dict[TopicPartition, int] = {}
        #: drift events as they came off the topic, newest last
        self.drift_events: deque[DriftWindow | DriftAlert] = deque(maxlen=keep)

    async def start(self) -> None:
        await self._watermarks.start()
        self._watermarks.assign(self._partitions)
        await self._drift.start()
        self._drift.assign(self._drift_partitions)
        await self._drift.seek_to_beginning(*self._drift_partitions)
        await self._admin.start()

    async def stop(self) -> None:
        for client in (self._watermarks, self._drift, *self._groups.values()):
            with contextlib.suppress(Exception):
                await client.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    async def high_watermarks(self) -> dict[TopicPartition, int]:
        known = {tp: self._known.get(tp, 0) for tp in self._partitions}
        self._known.update(await fetched_ends(self._watermarks, known))
        return dict(self._known)

    async def consumer_lag(self) -> dict[str, int]:
        """Messages published but not yet committed, per consumer group of this deployment."""
        prefix = f"{self.settings.topic_prefix}-"
        groups = [
            g for g, _ in await self._admin.list_consumer_groups() if str(g).startswith(prefix)
        ]
        ends = await self.high_watermarks()
        lags: dict[str, int] = {}
        for group in sorted(groups):
            consumer = self._groups.get(group)
            if consumer is None:
                consumer = AIOKafkaConsumer(
                    **self._options, group_id=group, enable_auto_commit=False
                )
                await consumer.start()
                self._groups[group] = consumer
            lag = 0
            for tp in self._partitions:
                committed = await consumer.committed(tp)
                if committed is not None and committed >= 0:
                    lag += max(0, ends[tp] - committed)
            lags[group.removeprefix(prefix)] = lag
        return lags

    async def poll_drift(self) -> int:
        """Read what arrived on the drift topic since the last poll; returns how many."""
        batches = await self._drift.getmany(timeout_ms=50, max_records=5000)
        added = 0
        for messages in batches.values():
            for message in messages:
                try:
                    event = decode(message.value)
                except DecodeError:
                    continue  # the sink dead-letters it; the monitor just skips it
                if isinstance(event, DriftWindow | DriftAlert):
                    self.drift_events.append(event)
                    added += 1
        return added
