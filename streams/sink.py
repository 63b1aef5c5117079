"""The sink: every event on every Dojo topic lands in the DuckDB store.

A bulk loader, not a stream processor: a plain aiokafka consumer in its own
consumer group (``<prefix>-sink``), hosted by a Faust app only for the worker's
life cycle and its web server (the store's query endpoint). Faust's per-message
machinery (an Event, a queue hop and an ack per message) cost more than the
decoding and the write together; the loader takes whole fetches (``getmany``)
and hands each batch to DuckDB as one Arrow table, projected by SQL inside
DuckDB (:mod:`dojo.store.projection`).

The group has a single member, because the store has exactly one writer: a sink
that finds itself sharing the group stops (:mod:`streams.single_writer`).
Batches are gathered (up to ``DOJO_SINK_BATCH_SIZE`` events, or what came within
``DOJO_SINK_BATCH_WITHIN_S``) while the writer thread decodes and writes the
previous one in one transaction; at most ``DOJO_SINK_BATCHES_IN_FLIGHT`` wait for it,
and beyond that the loader stops asking for records (aiokafka stops fetching
once its buffer is full). A batch's offsets are committed only once it is
written, so a killed sink re-reads at most the batches it had not finished, and
``INSERT OR IGNORE`` on ``event_id`` makes those re-reads store nothing twice.

A message that does not decode, or that decodes but carries a value the store
cannot hold (an integer beyond its column, say), becomes a DeadLetter — stored,
and published to the dead-letter topic — and the batch goes on. A failing write
(the store itself failing, not one bad message) crashes the worker (never a
silently stalled sink): the process exits, its supervisor sees it, and a
restart resumes from the committed offsets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import faust
import pyarrow as pa
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from faust.web import Request, Response, View

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import DecodeError, Stamper, encode
from dojo.events.codec import decode_upcast
from dojo.events.deadletter import dead_letter
from dojo.store import Received, StoreWriter, store_stats
from dojo.store.reader import ARROW_STREAM
from dojo.store.writer import ReadOnlyViolation
from dojo.topics import Topic, topic_name
from streams.app import create_app, raw_topic, run_now
from streams.single_writer import (
    SecondSink,
    SoleMember,
    check_store_matches_group,
    committed_offsets,
)

log = logging.getLogger(__name__)

CONSUMER = "sink"


class Record(Protocol):
    """What the sink reads of a consumed message (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> object: ...


class SinkFailed(RuntimeError):
    """Writing to the store failed: the sink stops rather than stall or skip events."""


def decode_batch(
    records: Sequence[Record], stamper: Stamper
) -> tuple[list[Received], list[Received]]:
    """Decoded events, and dead letters for the messages that did not decode.

    Every message is validated by its pydantic model (the rules have one source);
    the rest of the batch's work is columnar, in DuckDB.
    """
    good: list[Received] = []
    dead: list[Received] = []
    for record in records:
        raw = record.value if isinstance(record.value, bytes) else b""
        try:
            decoded, upcast = decode_upcast(raw)
        except DecodeError as exc:
            letter = dead_letter(
                stamper,
                raw=raw,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                consumer=CONSUMER,
                reason=exc.reason,
                error_type=exc.error_type,
            )
            dead.append(
                Received(letter, encode(letter), record.topic, record.partition, record.offset)
            )
            continue
        good.append(Received(decoded, raw, record.topic, record.partition, record.offset, upcast))
    return good, dead


def store_batch(store: StoreWriter, records: Sequence[Record], stamper: Stamper) -> list[Received]:
    """Decode and store one batch; returns its dead letters (stored too).

    What does not decode, and what decodes but the store cannot hold (see
    :meth:`StoreWriter.write_isolating`), becomes a dead letter with the reason.
    """
    good, dead = decode_batch(records, stamper)
    _, refused = store.write_isolating(good + dead)
    if not refused:
        return dead
    letters = []
    for item, reason in refused:
        letter = dead_letter(
            stamper,
            raw=item.raw,
            topic=item.topic,
            partition=item.partition,
            offset=item.offset,
            consumer=CONSUMER,
            reason=reason,
            error_type="StoreRefused",
        )
        letters.append(Received(letter, encode(letter), item.topic, item.partition, item.offset))
    store.write(letters)
    return dead + letters


def batch_offsets(records: Sequence[Record]) -> dict[TopicPartition, int]:
    """The offsets to commit once ``records`` are stored: each partition's next one."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


class _Assignments(ConsumerRebalanceListener):
    """Checks every assignment; aiokafka logs and swallows a listener's exceptions, so a
    refusal crashes the app from here (and the writer checks again before each batch)."""

    def __init__(self, sole: SoleMember, refuse: Any) -> None:
        self.sole = sole
        self.refuse = refuse

    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass  # what was written is committed after its batch; the rest is re-read

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            self.sole.check(assigned)
        except SecondSink as exc:
            await self.refuse(exc)


class Loader:
    """Consumer-group loader: fetched batches in, one store transaction each, then commit."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        store: StoreWriter,
        stamper: Stamper,
        sole: SoleMember,
        send_dead_letter: Any,
        crash: Any,
    ) -> None:
        self.settings = settings
        self.group = group
        self.store = store
        self.stamper = stamper
        self.sole = sole
        self.send_dead_letter = send_dead_letter
        self.crash = crash
        # one thread: the writer's connection is used by one thread at a time
        self.write_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="store-writer"
        )
        self.batches: asyncio.Queue[list[Record]] = asyncio.Queue(settings.sink.batches_in_flight)
        #: stored but not yet committed (a commit failed: the broker away, a rebalance)
        self.uncommitted: dict[TopicPartition, int] = {}
        self._tasks: list[asyncio.Future[None]] = []
        self._crashing: asyncio.Future[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "the loader has not started"
        return self._consumer

    async def start(self) -> None:
        # aiokafka binds its consumer to the running loop: created here, not in __init__
        self._consumer = AIOKafkaConsumer(
            **aiokafka_options(self.settings),
            group_id=self.group,
            client_id=f"{self.group}-loader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.settings.consumer.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.settings.consumer.heartbeat_interval_s * 1000),
        )
        topics = [topic_name(t, self.settings.topic_prefix) for t in Topic]
        self.consumer.subscribe(topics, listener=_Assignments(self.sole, self.crash))
        await self.consumer.start()
        for work in (self._gather(), self._write()):
            task = asyncio.ensure_future(work)
            task.add_done_callback(self._crash_on_failure)
            self._tasks.append(task)

    def _crash_on_failure(self, task: asyncio.Future[None]) -> None:
        # a failed write must stop the sink at once, never leave it stalled
        if not task.cancelled() and task.exception() is not None:
            failure = SinkFailed("the sink could not write a batch")
            failure.__cause__ = task.exception()
            self._crashing = asyncio.ensure_future(self.crash(failure))

    async def stop(self) -> None:
        for task in self._tasks:
            task.remove_done_callback(self._crash_on_failure)
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group; nothing unwritten was committed
        loop = asyncio.get_running_loop()
        # after any write still running on the writer thread
        await loop.run_in_executor(self.write_pool, self.store.close)
        self.write_pool.shutdown()

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        size, within = self.settings.sink.batch_size, self.settings.sink.batch_within_s
        while True:
            batch: list[Record] = []
            due: float | None = None  # a quiet stream still gets its events written in time
            while len(batch) < size:
                wait = within if due is None else due - loop.time()
                if wait <= 0:
                    break
                fetched = await self.consumer.getmany(
                    timeout_ms=max(1, int(wait * 1000)), max_records=size - len(batch)
                )
                for records in fetched.values():
                    batch.extend(records)
                if batch and due is None:
                    due = loop.time() + within
            await self.batches.put(batch)

    def _decode_and_write(self, records: list[Record]) -> list[Received]:
        """On the writer thread: the batch's dead letters, once everything is stored."""
        self.sole.require()  # never write (nor commit) what a shared assignment delivered
        return store_batch(self.store, records, self.stamper)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                batch = await asyncio.wait_for(
                    self.batches.get(), self.settings.consumer.commit_interval_s
                )
            except TimeoutError:
                await self._commit()  # retry a failed commit while the stream is quiet
                continue
            dead = await loop.run_in_executor(self.write_pool, self._decode_and_write, batch)
            for letter in dead:
                log.warning(
                    "dead letter from %s/%d@%d: %s",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    getattr(letter.event, "reason", ""),
                )
                await self.send_dead_letter(letter.raw)
            for tp, offset in batch_offsets(batch).items():
                self.uncommitted[tp] = max(self.uncommitted.get(tp, 0), offset)
            await self._commit()

    async def _commit(self) -> None:
        if not self.uncommitted:
            return
        offsets = dict(self.uncommitted)
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # stored already: the next commit carries these offsets too, and until then a
            # restart re-reads them into INSERT OR IGNORE
            log.warning("commit failed, retried with the next batch: %r", exc)
            return
        for tp, offset in offsets.items():
            if self.uncommitted.get(tp) == offset:
                del self.uncommitted[tp]


def keep_startup_out_of_gc() -> None:
    """Keep the cyclic garbage collector from walking what start-up built (Faust,
    aiokafka, pydantic's schemas: 108,000 objects in the sink) and from running every
    700 allocations.

    A batch of decoded events is hundreds of thousands of young containers: over
    ``bench.pipeline``'s 50,000 events the collector ran 1,572 times, its full passes
    walking every object of the process, and took 2.2 s of the sink's 6.8 s of CPU
    (timed by gc callbacks; 0.4 s with this, and 100 -> 69 us of sink CPU per event).
    Decoded events hold no cycles: reference counting frees them once their batch is
    written.
    """
    gc.collect()
    gc.freeze()  # they live as long as the process
    gc.set_threshold(50_000, 20, 100)


def build_sink(settings: Settings, web_port: int) -> faust.App:
    app = create_app("sink", settings, web_port=web_port)
    # Faust keeps the worker and the web server; the loader's own consumer reads the topics
    app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)
    stamper = Stamper(f"{CONSUMER}@{settings.topic_prefix}")
    read_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-reader")
    dead_letter_topic = raw_topic(app, settings, Topic.DEAD_LETTERS)
    store = StoreWriter(settings.store.path)
    sole = SoleMember(settings, app.conf.id)
    try:
        empty = store.query("SELECT count(*) = 0 AS empty FROM events").column(0)[0].as_py()
        committed = run_now(committed_offsets(settings, app.conf.id))
        check_store_matches_group(settings, app.conf.id, empty, committed)
    except BaseException:
        store.close()
        raise

    async def send_dead_letter(raw: bytes) -> None:
        # delivered before the batch's offsets are committed
        await (await dead_letter_topic.send(value=raw))

    loader = Loader(settings, app.conf.id, store, stamper, sole, send_dead_letter, app.crash)

    @app.task
    async def load() -> None:
        # tasks run once the app (its web server included) has started
        await loader.start()
        keep_startup_out_of_gc()
        store.advertise(f"http://127.0.0.1:{web_port}/store/query")

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's stubs want a sync receiver
    async def close_store(app: faust.App, **kwargs: Any) -> None:
        await loader.stop()

    def query_arrow(sql: str, params: list[object] | None) -> bytes:
        # serialised on the reader's thread: a large result must not hold up the event
        # loop, which gathers the writer's next batch
        table = store.query(sql, params)
        buffer = pa.BufferOutputStream()
        with pa.ipc.new_stream(buffer, table.schema) as out:
            out.write_table(table)
        return bytes(buffer.getvalue().to_pybytes())

    @app.page("/store/query")
    class StoreQuery(View):
        async def post(self, request: Request) -> Response:
            body = await request.json()
            loop = asyncio.get_running_loop()
            try:
                payload = await loop.run_in_executor(
                    read_pool, query_arrow, str(body.get("sql", "")), body.get("params") or None
                )
            except ReadOnlyViolation as exc:
                return self.json({"error": str(exc)}, status=400)
            except Exception as exc:  # a bad query from a reader must not hurt the sink
                return self.json({"error": f"{type(exc).__name__}: {exc}"}, status=400)
            return self.bytes(payload, content_type=ARROW_STREAM)

    @app.page("/store/stats")
    class StoreStatsView(View):
        async def get(self, request: Request) -> Response:
            loop = asyncio.get_running_loop()
            stats = await loop.run_in_executor(read_pool, store_stats, store)
            return self.json(stats.model_dump(mode="json"))

    return app
