"""State tables of the scoring app: Faust tables whose rows follow the episode's partition.

A Faust table writes each change to its changelog topic, on the partition of
the event being processed; a restarted worker (or the one that takes the
partition over) rebuilds the table from that changelog. The scoring agents
process events in batches and also change state from timers, where there is no
"event being processed", so :class:`EpisodeTable` picks the changelog
partition from the key itself: a key is ``<episode_id>`` or
``<episode_id>|<anything>``, and its partition is the one the producer's
default partitioner (murmur2, as in Kafka's Java client and aiokafka) gives the
episode id — the partition of the episode's own events, since every
episode-keyed topic has the same partition count. So a row always lives with
its episode, whoever writes it.

Rows are pydantic models stored as JSON bytes.
"""

from __future__ import annotations

from typing import Any, TypeVar

import faust
from aiokafka.partitioner import murmur2
from pydantic import BaseModel, ConfigDict

from dojo.topics import EPISODE_PARTITIONS

M = TypeVar("M", bound=BaseModel)

KEY_SEPARATOR = b"|"


def episode_partition(episode_id: bytes, partitions: int = EPISODE_PARTITIONS) -> int:
    """The partition Kafka's default partitioner sends a message keyed ``episode_id`` to."""
    return (murmur2(episode_id) & 0x7FFFFFFF) % partitions


def row_key(episode_id: str, item: str | None = None) -> bytes:
    key = episode_id.encode()
    return key if item is None else key + KEY_SEPARATOR + item.encode()


def episode_of(key: bytes) -> bytes:
    return key.split(KEY_SEPARATOR, 1)[0]


class EpisodeTable(faust.Table):
    """A table keyed by episode (see the module docstring)."""

    def partition_for_key(self, key: Any) -> int | None:
        return episode_partition(episode_of(key), self.partitions or EPISODE_PARTITIONS)


def episode_table(app: faust.App, name: str) -> EpisodeTable:
    """Register an :class:`EpisodeTable` of raw bytes on ``app``."""
    table = EpisodeTable(
        app,
        name=name,
        default=None,
        key_type=bytes,  # bytes keys and values: the "raw" serializer
        value_type=bytes,
        partitions=EPISODE_PARTITIONS,
        beacon=app.tables.beacon,
    )
    app.tables.add(table)
    return table


def load(table: Any, key: Any, model: type[M]) -> M | None:
    raw = table.get(key)
    return None if raw is None else model.model_validate_json(raw)


def store(table: Any, key: Any, row: BaseModel) -> None:
    table[key] = row.model_dump_json().encode()


class Expired(BaseModel):
    """What every agent's header row records for the sweep."""

    model_config = ConfigDict(extra="ignore")

    finished: bool = False
    touched: float = 0.0
    last_topic: str = ""
    last_offset: int = 0


def sweep(table: Any, owned: set[int], older_than: float) -> list[tuple[str, Expired]]:
    """Delete every episode of an owned partition not touched since ``older_than``.

    Returns the expired episodes' ids and headers (finished ones included: the
    caller decides which were torn). Only this worker's partitions are swept:
    rows of a partition that moved to another worker are that worker's business.
    """
    expired: dict[bytes, Expired] = {}
    for key in list(table.keys()):
        episode = episode_of(key)
        if key != episode or episode_partition(episode) not in owned:
            continue
        raw = table.get(key)
        if raw is None:
            continue
        header = Expired.model_validate_json(raw)
        if header.touched < older_than:
            expired[episode] = header
    if expired:
        for key in list(table.keys()):
            if episode_of(key) in expired:
                del table[key]
    return [(episode.decode(), header) for episode, header in expired.items()]
