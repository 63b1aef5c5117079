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

Rows are pydantic models stored as JSON bytes. An agent's row of an episode
extends :class:`EpisodeRow`; :class:`EpisodeBatch` is the loop every
episode-keyed agent (an :class:`EpisodeAgent`) runs over a batch of messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeGuard, TypeVar, cast, get_args, get_origin

import faust
from aiokafka.partitioner import murmur2
from faust.stores.memory import Store as MemoryStore
from faust.types import FutureMessage
from faust.types.stores import StoreT
from pydantic import BaseModel

from dojo.env.protocol import EpisodeSpec
from dojo.events import EpisodeStarted
from dojo.topics import EPISODE_PARTITIONS
from streams.scoring_io import Outbox, ScoringIO

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound="EpisodeRow")

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
    """A table keyed by episode (see the module docstring), whose episode rows are
    merged, not replaced, when it is rebuilt from its changelog (:class:`MergingStore`),
    and whose changes can be awaited into the changelog (:meth:`changes_written`)."""

    #: the model of the table's episode rows (keys without ``|``)
    row: type[EpisodeRow]
    #: changes sent to the changelog and not yet acknowledged
    unwritten: list[FutureMessage]

    def partition_for_key(self, key: Any) -> int | None:
        return episode_partition(episode_of(key), self.partitions or EPISODE_PARTITIONS)

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent = super().send_changelog(*args, **kwargs)
        self.unwritten.append(sent)
        return sent

    async def changes_written(self) -> None:
        """Until every change made so far is acknowledged by the changelog.

        A table change only goes to Faust's producer buffer, whose flush (on a
        rebalance, say) gives up on messages that take more than 0.1 s to send: a
        batch's input could be acknowledged, and its partition handed over, with its
        changes still unsent, and whoever rebuilds the partition would miss them. A
        batch's input is acknowledged only after this.
        """
        unwritten, self.unwritten = self.unwritten, []
        if unwritten:
            await asyncio.gather(*unwritten)

    def _new_store(self) -> StoreT:
        return MergingStore(
            "memory://",
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )


class MergingStore(MemoryStore):
    """In memory, as Faust's default store; rebuilt from the changelog by merging each
    episode row with what the table holds instead of taking the last write.

    Without transactions (Tansu has none) nothing fences a member the group has
    dropped: a worker that stalled past its session timeout (stopped, or starved under
    load) goes on with the batch in its hands when it wakes, and writes its rows to the
    changelog after the member that took its partitions over has written newer ones.
    The last write would then be the stale one, and whoever rebuilds the partition next
    would hold an episode that lost what the other member applied — a decision's reward
    that never comes again, and an episode never assembled. An episode row only grows
    until it is finished (:func:`merge_rows`), so the union of two writes holds all that
    either member applied, in whatever order they reached the changelog.
    """

    def apply_changelog_batch(
        self,
        batch: Iterable[faust.EventT],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        row = cast(EpisodeTable, self.table).row
        for event in batch:
            key = to_key(event.key)
            if event.message.value is None:
                self.data.pop(key, None)
                self._key_partition.pop(key, None)
                continue
            value = to_value(event.value)
            current = self.data.get(key)
            if current is not None and KEY_SEPARATOR not in key:
                value = (
                    merge_rows(row.model_validate_json(current), row.model_validate_json(value))
                    .model_dump_json()
                    .encode()
                )
            self.data[key] = value
            self._key_partition[key] = event.message.partition


def merge_rows(held: R, written: R) -> R:
    """One episode row from two writes of it: every id either holds (dicts and lists of
    ids are unions, ``written`` winning a key both hold), either's value where the other
    has none, finished if either is, touched when the later touched it."""
    values: dict[str, Any] = {}
    for name in type(written).model_fields:
        old, new = getattr(held, name), getattr(written, name)
        if isinstance(old, dict) and isinstance(new, dict):
            values[name] = {**old, **new}
        elif isinstance(old, list) and isinstance(new, list):
            values[name] = old + [item for item in new if item not in old]
        elif isinstance(new, bool):
            values[name] = old or new
        else:
            values[name] = old if new is None else new
    values["touched"] = max(held.touched, written.touched)
    return type(written).model_validate(values)


def episode_table(app: faust.App, name: str, row: type[EpisodeRow]) -> EpisodeTable:
    """Register an :class:`EpisodeTable` of raw bytes on ``app``, its episode rows ``row``."""
    table = EpisodeTable(
        app,
        name=name,
        default=None,
        key_type=bytes,  # bytes keys and values: the "raw" serializer
        value_type=bytes,
        partitions=EPISODE_PARTITIONS,
        beacon=app.tables.beacon,
    )
    table.row, table.unwritten = row, []
    app.tables.add(table)
    return table


def load(table: Any, key: Any, model: type[M]) -> M | None:
    raw = table.get(key)
    return None if raw is None else model.model_validate_json(raw)


def store(table: Any, key: Any, row: BaseModel) -> None:
    table[key] = row.model_dump_json().encode()


class EpisodeHeader(BaseModel):
    """What every agent's row of an episode records for the sweep (:func:`sweep`)."""

    finished: bool = False
    touched: float = 0.0
    last_topic: str = ""
    last_offset: int = 0


class EpisodeRow(EpisodeHeader):
    """An agent's row of an episode: the header, and the episode's spec once its
    EpisodeStarted came (:meth:`EpisodeBatch.apply`)."""

    spec: EpisodeSpec | None = None

    def start(self, event: EpisodeStarted) -> None:
        """Keep what the row needs of the episode's EpisodeStarted (an agent's row may
        keep more)."""
        self.spec = event.spec


H = TypeVar("H", bound=EpisodeRow)

#: an agent's step: apply one decoded event to its episode's row (``None``: no row yet)
#: and return the row; what it publishes goes to the outbox
Step = Callable[[Any, H | None, faust.EventT, Outbox], H | None]
#: what an agent does with an episode's row after each step (publish what it is ready for)
Then = Callable[[str, H, Outbox], None]


class EpisodeBatch(Generic[H]):
    """One batch of messages through an episode-keyed agent.

    :meth:`apply` decodes each message (dead-lettering what is no Dojo event),
    passes the events the agent handles, with their episode's row — read from
    the table once a batch — to the agent's step, then the row it returns to
    the agent's ``then``, and stamps it. An EpisodeStarted, which every agent
    handles, starts the row here instead of in a step: the row is opened if
    nothing opened it yet (an agent may open it for what comes before) and
    started once (a redelivery changes nothing). The agent then publishes what
    else it will, :meth:`finish` delivers the outbox and only then stores the
    rows (see :mod:`streams.scoring_io`).
    """

    def __init__(self, io: ScoringIO, table: Any, row: type[H]) -> None:
        self.io = io
        self.table = table
        self.row = row
        self.outbox = io.outbox()
        self.rows: dict[bytes, H | None] = {}

    def apply(
        self,
        events: Iterable[faust.EventT],
        handles: Any,
        step: Step[H],
        then: Then[H] | None = None,
    ) -> None:
        """``step`` each event that is an instance of ``handles`` (a type or a union);
        start the row on an EpisodeStarted."""
        for event in events:
            decoded = self.io.decode(event, self.outbox)
            if not isinstance(decoded, EpisodeStarted | handles):
                continue
            key = row_key(decoded.episode_id)
            row = self.rows[key] if key in self.rows else load(self.table, key, self.row)
            if isinstance(decoded, EpisodeStarted):
                row = row or self.row()
                if row.spec is None:
                    row.start(decoded)
            else:
                row = step(decoded, row, event, self.outbox)
            if row is not None:
                if then is not None:
                    then(decoded.episode_id, row, self.outbox)
                row.touched = time.time()
                row.last_topic, row.last_offset = event.message.topic, event.message.offset
            self.rows[key] = row

    async def deliver(self) -> None:
        await self.outbox.deliver()

    def store(self) -> None:
        for key, row in self.rows.items():
            if row is not None:
                store(self.table, key, row)

    async def finish(self) -> None:
        """Deliver what the batch publishes, then store the rows."""
        await self.deliver()
        self.store()


S = TypeVar("S", bound=BaseModel)


@dataclass(eq=False)
class EpisodeAgent(Generic[H, S]):
    """What every episode-keyed agent holds — the scoring app's IO, its table and its
    stats — and the rules they share: an episode's EpisodeStarted starts its row (its
    batches do that, :class:`EpisodeBatch`); nothing of the episode's own counts before
    it, nor once the row is finished (:meth:`admitted`); an episode is waiting until
    its row is finished.

    An agent names its row model and its stats model as the type arguments,
    ``class Attribution(EpisodeAgent[AttributionEpisode, AttributionStats])``: its
    batches (:meth:`batch`) read and store that row, and it starts with fresh stats.
    """

    #: the agent's row of an episode, and its stats (from the type arguments)
    row: ClassVar[type[EpisodeRow]]
    stats_model: ClassVar[type[BaseModel]]

    io: ScoringIO
    table: Any
    stats: S = field(init=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is EpisodeAgent:
                cls.row, cls.stats_model = get_args(base)

    def __post_init__(self) -> None:
        self.stats = cast(S, self.stats_model())

    def batch(self) -> EpisodeBatch[H]:
        """A batch of messages through this agent, over its rows."""
        return EpisodeBatch(self.io, self.table, cast(type[H], self.row))

    def admitted(
        self, state: H | None, consumer: str, event: Any, raw: faust.EventT, outbox: Outbox
    ) -> TypeGuard[H]:
        """Whether ``event``, one of the episode's own (a decision, its completion), is for
        the agent (``consumer``) to apply to the episode's row: not before the
        EpisodeStarted — it is dead-lettered — nor once the row is finished (a
        redelivery)."""
        if state is None or state.spec is None:
            self.io.reject(
                raw,
                outbox,
                consumer,
                f"{event.type} of episode {event.episode_id} before its EpisodeStarted",
                "EpisodeNotStarted",
            )
            return False
        return not state.finished

    def waiting(self) -> int:
        """How many episodes of the table are not finished (an agent's other rows, keyed
        ``<episode_id>|…``, are not counted)."""
        return sum(
            1
            for key, raw in self.table.items()
            if raw is not None
            and KEY_SEPARATOR not in key
            and not EpisodeHeader.model_validate_json(raw).finished
        )


def sweep(table: Any, owned: set[int], older_than: float) -> list[tuple[str, EpisodeHeader]]:
    """Delete every episode of an owned partition not touched since ``older_than``.

    Returns the expired episodes' ids and headers (finished ones included: the
    caller decides which were torn). Only this worker's partitions are swept:
    rows of a partition that moved to another worker are that worker's business.
    """
    expired: dict[bytes, EpisodeHeader] = {}
    for key in list(table.keys()):
        episode = episode_of(key)
        if key != episode or episode_partition(episode) not in owned:
            continue
        raw = table.get(key)
        if raw is None:
            continue
        header = EpisodeHeader.model_validate_json(raw)
        if header.touched < older_than:
            expired[episode] = header
    if expired:
        for key in list(table.keys()):
            if episode_of(key) in expired:
                del table[key]
    return [(episode.decode(), header) for episode, header in expired.items()]
