"""The sink: every event on every Dojo topic lands in the DuckDB store.

Its own Faust app and consumer group (``<prefix>-sink``) with a single member,
because the store has exactly one writer: a sink that finds itself sharing the
group stops (:mod:`streams.single_writer`). Events are gathered into batches and
written in one transaction per batch (decoding included) on the writer thread,
while the stream goes on consuming the next batch: gathering, decoding and
writing overlap. An event is acked — its offset may be committed — only once
its batch is written, so a killed sink re-reads at most the batches it had not
finished, and ``INSERT OR IGNORE`` on ``event_id`` makes those re-reads store
nothing twice. At most ``sink_batches_in_flight`` batches wait for the writer;
beyond that the stream stops pulling, and Faust pauses fetching.

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
import logging
from typing import Any

import faust
import pyarrow as pa
from faust.web import Request, Response, View
from mode.supervisors import CrashingSupervisor

from dojo.config import Settings
from dojo.events import DecodeError, Stamper, encode
from dojo.events.codec import decode_upcast
from dojo.events.deadletter import dead_letter
from dojo.store import Received, StoreWriter, store_stats
from dojo.store.reader import ARROW_STREAM
from dojo.store.writer import ReadOnlyViolation
from dojo.topics import Topic
from streams.app import create_app, raw_topic, run_now
from streams.single_writer import (
    SoleMember,
    check_store_matches_group,
    committed_offsets,
)

log = logging.getLogger(__name__)

CONSUMER = "sink"


class SinkFailed(RuntimeError):
    """Writing to the store failed: the sink stops rather than stall or skip events."""


def decode_batch(events: list[Any], stamper: Stamper) -> tuple[list[Received], list[Received]]:
    """Decoded events, and dead letters for the messages that did not decode."""
    good: list[Received] = []
    dead: list[Received] = []
    for event in events:
        message = event.message
        raw = message.value if isinstance(message.value, bytes) else b""
        try:
            decoded, upcast = decode_upcast(raw)
        except DecodeError as exc:
            letter = dead_letter(
                stamper,
                raw=raw,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                consumer=CONSUMER,
                reason=exc.reason,
                error_type=exc.error_type,
            )
            dead.append(
                Received(letter, encode(letter), message.topic, message.partition, message.offset)
            )
            continue
        good.append(
            Received(decoded, raw, message.topic, message.partition, message.offset, upcast)
        )
    return good, dead


def store_batch(store: StoreWriter, events: list[Any], stamper: Stamper) -> list[Received]:
    """Decode and store one batch; returns its dead letters (stored too).

    What does not decode, and what decodes but the store cannot hold (see
    :meth:`StoreWriter.write_isolating`), becomes a dead letter with the reason.
    """
    good, dead = decode_batch(events, stamper)
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


def build_sink(settings: Settings, web_port: int) -> faust.App:
    app = create_app("sink", settings, web_port=web_port)
    stamper = Stamper(f"{CONSUMER}@{settings.topic_prefix}")
    # one thread: the writer's connection is used by one thread at a time
    write_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store-writer")
    read_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-reader")
    dead_letter_topic = raw_topic(app, settings, Topic.DEAD_LETTERS)
    source = raw_topic(app, settings, *Topic)
    store = StoreWriter(settings.store.path)
    sole = SoleMember(settings, app.conf.id)
    try:
        empty = store.query("SELECT count(*) = 0 AS empty FROM events").column(0)[0].as_py()
        committed = run_now(committed_offsets(settings, app.conf.id))
        check_store_matches_group(settings, app.conf.id, empty, committed)
    except BaseException:
        store.close()
        raise

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stubs: sync receiver
    async def only_writer(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        # a second sink in the group would split the events between two stores
        sole.check(assigned)

    @app.task
    async def advertise() -> None:
        # tasks run once the app (its web server included) has started
        store.advertise(f"http://127.0.0.1:{web_port}/store/query")

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's stubs want a sync receiver
    async def close_store(app: faust.App, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(write_pool, store.close)

    def decode_and_write(events: list[Any]) -> list[Received]:
        """On the writer thread: the batch's dead letters, once everything is stored."""
        sole.require()  # never write (nor ack) what a shared assignment delivered
        return store_batch(store, events, stamper)

    @app.agent(source, name="sink", supervisor_strategy=CrashingSupervisor)
    async def sink(stream: faust.StreamT[bytes]) -> None:
        loop = asyncio.get_running_loop()
        # acked by hand, after the write (faust's StreamT stub lacks noack)
        manual = stream.noack()  # type: ignore[attr-defined]
        batches: asyncio.Queue[list[Any]] = asyncio.Queue(settings.sink.batches_in_flight)
        gathering: list[Any] = []
        first_at = 0.0

        async def write_batches() -> None:
            while True:
                events = await batches.get()
                dead = await loop.run_in_executor(write_pool, decode_and_write, events)
                for event in events:
                    await manual.ack(event)
                for letter in dead:
                    log.warning(
                        "dead letter from %s/%d@%d: %s",
                        letter.topic,
                        letter.partition,
                        letter.offset,
                        getattr(letter.event, "reason", ""),
                    )
                    await dead_letter_topic.send(value=letter.raw)

        async def hand_over() -> None:
            nonlocal gathering
            batch, gathering = gathering, []
            await batches.put(batch)

        async def flush_when_due() -> None:
            # a quiet stream still gets its last events written within the window
            while True:
                await asyncio.sleep(settings.sink.batch_within_s / 4)
                if gathering and loop.time() - first_at >= settings.sink.batch_within_s:
                    await hand_over()

        agent = asyncio.current_task()
        failures: list[BaseException] = []

        def crash_agent(helper: asyncio.Future[None]) -> None:
            # a failed write must stop the sink at once, not when the next event comes
            if not helper.cancelled() and helper.exception() is not None:
                failures.append(helper.exception())  # type: ignore[arg-type]
                if agent is not None:
                    agent.cancel()

        helpers = [asyncio.ensure_future(write_batches()), asyncio.ensure_future(flush_when_due())]
        for helper in helpers:
            helper.add_done_callback(crash_agent)
        try:
            async for event in manual.events():
                if not gathering:
                    first_at = loop.time()
                gathering.append(event)
                if len(gathering) >= settings.sink.batch_size:
                    await hand_over()
        except asyncio.CancelledError:
            if failures:
                raise SinkFailed("the sink could not write a batch") from failures[0]
            raise
        finally:
            for helper in helpers:
                helper.remove_done_callback(crash_agent)
                helper.cancel()

    @app.page("/store/query")
    class StoreQuery(View):
        async def post(self, request: Request) -> Response:
            body = await request.json()
            loop = asyncio.get_running_loop()
            try:
                table = await loop.run_in_executor(
                    read_pool, store.query, str(body.get("sql", "")), body.get("params") or None
                )
            except ReadOnlyViolation as exc:
                return self.json({"error": str(exc)}, status=400)
            except Exception as exc:  # a bad query from a reader must not hurt the sink
                return self.json({"error": f"{type(exc).__name__}: {exc}"}, status=400)
            sink_buffer = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink_buffer, table.schema) as out:
                out.write_table(table)
            return self.bytes(sink_buffer.getvalue().to_pybytes(), content_type=ARROW_STREAM)

    @app.page("/store/stats")
    class StoreStatsView(View):
        async def get(self, request: Request) -> Response:
            loop = asyncio.get_running_loop()
            stats = await loop.run_in_executor(read_pool, store_stats, store)
            return self.json(stats.model_dump(mode="json"))

    return app
