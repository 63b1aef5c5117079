"""Measuring a running pipeline from outside: published, consumed, stored.

Published is read from the partitions' high watermarks, consumed from a consumer
group's committed offsets (lag = the difference), stored from the store itself.
Nothing here joins a consumer group, so probing never triggers a rebalance.

High watermarks come from fetch responses, not from ListOffsets: the embedded
Tansu broker answers ListOffsets(latest) with the base offset of the last batch
plus one (100 records in one batch read as an end offset of 1), while the
watermark in its fetch responses is right — and it is right on Kafka too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.broker.offsets import fetched_ends
from dojo.config import Settings
from dojo.store import StoreUnavailable, open_store
from dojo.topics import TOPICS


@dataclass(frozen=True)
class Snapshot:
    published: int
    lag: int  # all draining groups together: messages published but not yet committed
    episodes_completed: int
    events_stored: int
    lags: dict[str, int] = field(default_factory=dict)  # per service name


def _partitions(settings: Settings) -> list[TopicPartition]:
    return [
        TopicPartition(spec.name(settings.topic_prefix), p)
        for spec in TOPICS.values()
        for p in range(spec.partitions)
    ]


class PipelineProbe:
    """``groups``: {service name: (consumer group id, topic names it consumes)};
    ``extra_topics``: topics outside the topic table to watch too (name -> partitions)."""

    def __init__(
        self,
        settings: Settings,
        store_path: Path,
        groups: dict[str, tuple[str, list[str]]],
        extra_topics: dict[str, int] | None = None,
    ) -> None:
        self.settings = settings
        self.store_path = store_path
        self.groups = groups
        self._events_tps = _partitions(settings)
        self._tps = self._events_tps + [
            TopicPartition(name, p) for name, n in (extra_topics or {}).items() for p in range(n)
        ]
        options = aiokafka_options(settings)
        self._watermarks = AIOKafkaConsumer(
            **options, max_partition_fetch_bytes=1024, fetch_max_wait_ms=20
        )
        # one non-joining consumer per group, only to read its committed offsets
        self._committed = {
            name: AIOKafkaConsumer(**options, group_id=group, enable_auto_commit=False)
            for name, (group, _) in groups.items()
        }
        self._known: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        await self._watermarks.start()
        self._watermarks.assign(self._tps)
        for consumer in self._committed.values():
            await consumer.start()

    async def stop(self) -> None:
        """Stop every consumer, each apart: when the broker died under them, one that fails
        to stop cleanly must not leave the others polling (and re-creating topics on a new
        broker with its default partition count)."""
        for consumer in (self._watermarks, *self._committed.values()):
            stopping = asyncio.ensure_future(consumer.stop())
            await asyncio.wait([stopping], timeout=10.0)
            if stopping.done() and not stopping.cancelled():
                stopping.exception()  # retrieved; a dead broker's client has nothing to add

    async def kafka(self) -> tuple[int, dict[str, int]]:
        """(messages published on all topics, {service: messages its group has not committed})."""
        ends = await self.high_watermarks()
        lags = {}
        for name, (_, topics) in self.groups.items():
            consumer, lag = self._committed[name], 0
            for tp in self._tps:
                if tp.topic in topics:
                    lag += ends[tp] - (await consumer.committed(tp) or 0)
            lags[name] = lag
        return sum(ends[tp] for tp in self._events_tps), lags

    async def high_watermarks(self) -> dict[TopicPartition, int]:
        # not ListOffsets: the embedded broker's is short of a batch's tail (dojo.broker.offsets)
        known = {tp: self._known.get(tp, 0) for tp in self._tps}
        self._known.update(await fetched_ends(self._watermarks, known))
        return dict(self._known)

    def store(self) -> tuple[int, int]:
        """(completed episodes, stored events); zeros until the store exists."""
        try:
            reader = open_store(self.store_path)
        except StoreUnavailable:
            return 0, 0
        try:
            row = reader.query(
                "SELECT (SELECT count(*) FROM episodes WHERE completed_event_id IS NOT NULL)"
                " AS episodes, (SELECT count(*) FROM events) AS events"
            ).to_pylist()[0]
            return int(row["episodes"]), int(row["events"])
        except Exception:  # the writer may be starting or stopping between probes
            return 0, 0
        finally:
            reader.close()

    async def snapshot(self) -> Snapshot:
        published, lags = await self.kafka()
        episodes, stored = await asyncio.to_thread(self.store)
        return Snapshot(published, sum(lags.values()), episodes, stored, lags)
