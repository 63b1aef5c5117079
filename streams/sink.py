"""The sink: every event on every Dojo topic lands in the DuckDB store.

Its own Faust app and consumer group (``<prefix>-sink``) with a single member,
because the store has exactly one writer. Events are taken in batches and
written in one transaction per batch; offsets are committed only after the
batch is written (``take_events`` acks on the next iteration), so a killed
sink re-reads at most the batches it had not finished, and ``INSERT OR IGNORE``
on ``event_id`` makes those re-reads store nothing twice.

A message that does not decode becomes a DeadLetter — stored, and published to
the dead-letter topic — and the batch goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

import faust
import pyarrow as pa
from faust.web import Request, Response, View

from dojo.config import Settings
from dojo.events import DecodeError, Stamper, decode, encode
from dojo.events.deadletter import dead_letter
from dojo.store import Received, StoreWriter, store_stats
from dojo.store.reader import ARROW_STREAM
from dojo.store.writer import ReadOnlyViolation
from dojo.topics import Topic
from streams.app import create_app, raw_topic

log = logging.getLogger(__name__)

CONSUMER = "sink"


def decode_batch(events: list[Any], stamper: Stamper) -> tuple[list[Received], list[Received]]:
    """Decoded events, and dead letters for the messages that did not decode."""
    good: list[Received] = []
    dead: list[Received] = []
    for event in events:
        message = event.message
        raw = message.value if isinstance(message.value, bytes) else b""
        try:
            decoded = decode(raw)
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
        good.append(Received(decoded, raw, message.topic, message.partition, message.offset))
    return good, dead


def build_sink(settings: Settings, web_port: int) -> faust.App:
    app = create_app("sink", settings, web_port=web_port)
    stamper = Stamper(f"{CONSUMER}@{settings.topic_prefix}")
    # one thread: the writer's connection is used by one thread at a time
    write_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store-writer")
    read_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-reader")
    dead_letter_topic = raw_topic(app, settings, Topic.DEAD_LETTERS)
    source = raw_topic(app, settings, *Topic)
    store = StoreWriter(settings.store_path)

    @app.task
    async def advertise() -> None:
        # tasks run once the app (its web server included) has started
        store.advertise(f"http://127.0.0.1:{web_port}/store/query")

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's stubs want a sync receiver
    async def close_store(app: faust.App, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(write_pool, store.close)

    @app.agent(source, name="sink")
    async def sink(stream: faust.StreamT[bytes]) -> None:
        loop = asyncio.get_running_loop()
        # take_events (not take): the batch keeps each message's topic position
        async for events in stream.take_events(  # type: ignore[attr-defined]
            settings.sink_batch_size, within=settings.sink_batch_within_s
        ):
            good, dead = decode_batch(list(events), stamper)
            await loop.run_in_executor(write_pool, store.write, good + dead)
            for letter in dead:
                log.warning(
                    "dead letter from %s/%d@%d: %s",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    getattr(letter.event, "reason", ""),
                )
                await dead_letter_topic.send(value=letter.raw)

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
