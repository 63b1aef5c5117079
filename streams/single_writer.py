"""The sink's single-writer rule: one sink per consumer group, holding every partition.

The DuckDB store has exactly one writer, so the sink cannot scale out the way the
scoring app does. A second sink in the same consumer group (``<prefix>-sink``)
would not add capacity: Kafka would split the partitions between the two, and
each would store part of the events in its own store file — two incomplete
stores, neither of them a record of the run. So the sink checks every
assignment it gets: unless it holds every partition of every topic of the table,
another member has joined its group, and it refuses to go on (:class:`SecondSink`)
before it writes or acknowledges anything of that assignment. Both sinks stop,
loudly, rather than either keep writing half the stream; what they had stored is
committed, so nothing is lost once one of them runs alone again.

Before it joins, a sink also checks that the group's progress is its store's: a
group that has committed offsets while the store is empty has stored its events
somewhere else — a second sink with a fresh volume, or a store deleted to be
rebuilt, which resuming from those commits would silently leave without
everything before them (:func:`check_store_matches_group`).

Two sinks on the same store file are also stopped by DuckDB's own file lock
(see :mod:`dojo.store.writer`), whichever group they are in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.topics import TOPICS


class SecondSink(RuntimeError):
    """Another sink shares this sink's consumer group: the store would get half the events."""


def every_partition(settings: Settings) -> set[tuple[str, int]]:
    """(topic, partition) of every topic in the table: what a sole sink is assigned."""
    return {
        (spec.name(settings.topic_prefix), partition)
        for spec in TOPICS.values()
        for partition in range(spec.partitions)
    }


class SoleMember:
    """Watches the sink's assignments; ``refusal`` says why it must stop, once it must."""

    def __init__(self, settings: Settings, group: str) -> None:
        self.settings = settings
        self.group = group
        self.expected = every_partition(settings)
        self.refusal: str | None = None

    def check(self, assigned: Iterable[Any]) -> None:
        """Raise :class:`SecondSink` unless ``assigned`` (TopicPartitions) covers them all."""
        held = {(tp.topic, tp.partition) for tp in assigned}
        missing = sorted(self.expected - held)
        if not missing:
            return
        shown = ", ".join(f"{topic}[{partition}]" for topic, partition in missing[:6])
        more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        self.refusal = (
            f"another sink has joined consumer group {self.group!r}: this one was assigned "
            f"{len(self.expected) - len(missing)} of {len(self.expected)} partitions (not "
            f"{shown}{more}). The DuckDB store has exactly one writer, so there is exactly "
            "one sink per topic prefix: stop the other one (docker compose: never scale the "
            "sink service; Kubernetes: the sink StatefulSet has one replica). Scale the "
            "scoring app instead."
        )
        raise SecondSink(self.refusal)

    def require(self) -> None:
        """Raise :class:`SecondSink` if an assignment was refused (before writing a batch)."""
        if self.refusal is not None:
            raise SecondSink(self.refusal)


async def committed_offsets(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    """The offsets ``group`` has committed, per (topic, partition)."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        # partitions named: asking for "all" is an OffsetFetch that Tansu answers malformed
        wanted = [TopicPartition(topic, p) for topic, p in sorted(every_partition(settings))]
        offsets = await admin.list_consumer_group_offsets(group, partitions=wanted)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


def check_store_matches_group(
    settings: Settings, group: str, store_is_empty: bool, committed: dict[tuple[str, int], int]
) -> None:
    """Raise :class:`SecondSink` when ``group`` has progress that an empty store never had."""
    ours = every_partition(settings)
    progressed = sorted(tp for tp, offset in committed.items() if offset > 0 and tp in ours)
    if not store_is_empty or not progressed:
        return
    raise SecondSink(
        f"consumer group {group!r} has committed offsets on {len(progressed)} partitions "
        f"(e.g. {progressed[0][0]}[{progressed[0][1]}] at {committed[progressed[0]]}), but the "
        f"store {settings.store.path} is empty: those events were stored by another sink, "
        "into another store. The store has exactly one writer: run this sink on that store "
        "(its volume). To rebuild a store from the topics instead, reset the group first "
        f"(kafka-consumer-groups.sh --group {group} --reset-offsets --to-earliest --all-topics "
        "--execute) or use a new DOJO_TOPIC_PREFIX."
    )
