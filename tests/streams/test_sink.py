"""The sink, as its own Faust worker process on the real broker, writing a real DuckDB file.

Every test accounts for each event id it published: stored exactly once, none
lost, none duplicated — across a SIGKILL of the sink, and around malformed
messages, which become dead letters while processing goes on.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import Stamper, decode, encode
from dojo.store import open_store, store_stats
from dojo.store.reader import FileReader, WriterReader
from dojo.store.writer import endpoint_file
from dojo.topics import TOPIC_OF_EVENT, Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout
from dojo.workers.services import store_writer_ready
from dojo.workers.supervisor import child_environment

Message = tuple[str, bytes, bytes]  # topic, key, value


def episodes(settings: Settings, count: int, first: int = 0) -> list[Message]:
    actor, stamper = ReferenceActor("senior"), Stamper("test-publisher")
    messages = []
    for n in range(first, first + count):
        spec = EpisodeSpec(episode_type=f"E-1.{n % 5 + 1}", seed=n, stage=1)
        for event in rollout(spec, f"ep-{n:05d}", actor, stamper):
            topic = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
            messages.append((topic, str(event.key).encode(), encode(event)))
    return messages


def event_ids(messages: list[Message]) -> set[str]:
    return {str(decode(value).event_id) for _, _, value in messages}


async def publish(settings: Settings, messages: list[Message], pause_every: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for n, (topic, key, value) in enumerate(messages, 1):
            await producer.send(topic, value, key=key)
            if pause_every and n % pause_every == 0:
                await producer.flush()
                await asyncio.sleep(0.05)
        await producer.flush()
    finally:
        await producer.stop()


class SinkProcess:
    """``dojo streams worker --app sink`` with the test's settings."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dojo", "streams", "worker", "--app", "sink"],
                env=child_environment(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.log

    def wait_ready(self, timeout: float = 120) -> SinkProcess:
        deadline = time.monotonic() + timeout
        while not store_writer_ready(self, self.settings):
            assert self.process.poll() is None, f"the sink died: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the sink did not start"
            time.sleep(0.1)
        return self

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def sinks(kafka_settings: Settings, tmp_path: Path) -> Iterator[list[SinkProcess]]:
    started: list[SinkProcess] = []
    yield started
    for sink in started:
        sink.stop()


def start_sink(settings: Settings, sinks: list[SinkProcess], tmp_path: Path) -> SinkProcess:
    sink = SinkProcess(settings, tmp_path / f"sink-{len(sinks)}.log")
    sinks.append(sink)
    return sink.wait_ready()


def stored_count(settings: Settings, sql: str = "SELECT count(*) FROM events") -> int:
    reader = open_store(settings.store.path)
    try:
        return int(reader.query(sql).column(0)[0].as_py())
    finally:
        reader.close()


def wait_stored(settings: Settings, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (n := stored_count(settings)) < expected:
        assert time.monotonic() < deadline, f"{n} of {expected} events stored"
        time.sleep(0.2)


def stored_ids(settings: Settings) -> list[str]:
    reader = open_store(settings.store.path)
    try:
        return [str(i) for i in reader.query("SELECT event_id FROM events").column(0).to_pylist()]
    finally:
        reader.close()


def test_sink_stores_every_event_once_and_serves_readers_while_live(
    kafka_settings: Settings, sinks: list[SinkProcess], tmp_path: Path
) -> None:
    sink = start_sink(kafka_settings, sinks, tmp_path)
    messages = episodes(kafka_settings, 12)
    asyncio.run(publish(kafka_settings, messages))
    # the writer holds the file: readers go through its query endpoint, never blocking it
    reader = open_store(kafka_settings.store.path)
    assert isinstance(reader, WriterReader)
    reader.close()
    wait_stored(kafka_settings, len(messages))
    asyncio.run(publish(kafka_settings, messages[:7]))  # a redelivery stores nothing
    time.sleep(2 * kafka_settings.sink.batch_within_s + 1)
    assert sink.stop() == 0
    assert not endpoint_file(kafka_settings.store.path).exists()

    reader = open_store(kafka_settings.store.path)  # the writer is gone: the file itself
    assert isinstance(reader, FileReader)
    try:
        stats = store_stats(reader)
        per_episode = reader.query(
            "SELECT count(DISTINCT partition) AS partitions FROM events GROUP BY episode_id"
        ).column(0)
    finally:
        reader.close()
    assert sorted(stored_ids(kafka_settings)) == sorted(event_ids(messages))
    assert stats.episodes_completed == 12 and stats.episodes_incomplete == 0
    assert stats.consistent, stats
    assert set(per_episode.to_pylist()) == {1}  # keyed by episode_id: one partition each


def test_malformed_messages_become_dead_letters_and_processing_goes_on(
    kafka_settings: Settings, sinks: list[SinkProcess], tmp_path: Path
) -> None:
    start_sink(kafka_settings, sinks, tmp_path)
    topic = topic_name(Topic.EPISODES, kafka_settings.topic_prefix)
    good = episodes(kafka_settings, 3)
    not_an_event = json.loads(good[0][2])
    not_an_event["step"] = "twelve"
    not_an_event["type"] = "DecisionMade"
    bad: list[Message] = [
        (topic, b"ep-bad", b"\x00\x01 this is not json"),
        (topic, b"ep-bad", json.dumps(not_an_event).encode()),
    ]
    asyncio.run(publish(kafka_settings, good[:5] + bad + good[5:]))
    wait_stored(kafka_settings, len(good) + len(bad))  # each dead letter is stored as an event

    reader = open_store(kafka_settings.store.path)
    try:
        letters = reader.query(
            "SELECT topic, reason, error_type, payload FROM dead_letters ORDER BY error_type"
        ).to_pylist()
        stats = store_stats(reader)
    finally:
        reader.close()
    assert [(d["topic"], d["error_type"]) for d in letters] == [
        (topic, "NotJSON"),
        (topic, "ValidationError"),
    ]
    assert letters[0]["reason"].startswith("not JSON")
    assert letters[0]["payload"].endswith("this is not json")
    assert "DecisionMade" in letters[1]["reason"]
    assert stats.episodes_completed == 3  # the good events around the bad ones all landed
    assert set(stored_ids(kafka_settings)) >= event_ids(good)
    assert asyncio.run(_dead_letter_topic(kafka_settings, 2)) == {"NotJSON", "ValidationError"}


async def _dead_letter_topic(settings: Settings, expected: int) -> set[str]:
    consumer = AIOKafkaConsumer(
        topic_name(Topic.DEAD_LETTERS, settings.topic_prefix),
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    kinds: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while len(kinds) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                kinds |= {getattr(decode(r.value), "error_type", "") for r in records}
    finally:
        await consumer.stop()
    return kinds


#: seconds of CPU on this machine: far longer than storing a few episodes takes
SLOW_QUERY = "SELECT sum(hash(a.range + b.range)) AS s FROM range(16000) a, range(16000) b"


def test_a_slow_reader_query_does_not_hold_up_the_writer(
    kafka_settings: Settings, sinks: list[SinkProcess], tmp_path: Path
) -> None:
    settings = kafka_settings.replace(sink_batch_within_s=0.1)
    start_sink(settings, sinks, tmp_path)
    reader = open_store(settings.store.path)
    assert isinstance(reader, WriterReader)
    answered = threading.Event()

    def slow_reader() -> None:
        try:
            reader.query(SLOW_QUERY)
        finally:
            answered.set()

    thread = threading.Thread(target=slow_reader, daemon=True)
    thread.start()
    time.sleep(0.3)  # the query is running on the sink's reader thread
    messages = episodes(settings, 3)
    asyncio.run(publish(settings, messages))
    wait_stored(settings, len(messages), timeout=60)
    # stored while the slow query still ran: readers and the writer do not wait on each other
    assert not answered.is_set(), "the slow query was answered before the events were stored"
    thread.join(120)
    reader.close()
    assert sorted(stored_ids(settings)) == sorted(event_ids(messages))


def test_sigkilled_sink_restarts_without_losing_or_duplicating(
    kafka_settings: Settings, sinks: list[SinkProcess], tmp_path: Path
) -> None:
    # frequent commits and small batches: a sink that committed offsets before their
    # events were written would lose some at almost any moment of a kill
    kafka_settings = kafka_settings.replace(consumer_commit_interval_s=0.05, sink_batch_size=300)
    first = start_sink(kafka_settings, sinks, tmp_path)
    messages = episodes(kafka_settings, 300)

    async def publish_and_kill() -> None:
        # a little faster than the sink stores, so it works with a backlog in hand
        publishing = asyncio.create_task(publish(kafka_settings, messages, pause_every=100))
        # kill once the sink is writing, while events are still arriving
        while await asyncio.to_thread(stored_count, kafka_settings) < len(messages) // 8:
            assert not publishing.done(), "published everything before the sink got going"
            await asyncio.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        killed_at = await asyncio.to_thread(first.process.wait)
        assert killed_at == -signal.SIGKILL
        assert not publishing.done(), "the kill came after the last send"
        await publishing

    asyncio.run(publish_and_kill())
    start_sink(kafka_settings, sinks, tmp_path)  # rejoins the group, resumes from its commits
    wait_stored(kafka_settings, len(messages), timeout=180)
    time.sleep(2 * kafka_settings.sink.batch_within_s + 1)  # would a late duplicate appear?
    ids = stored_ids(kafka_settings)
    assert len(ids) == len(set(ids))
    assert set(ids) == event_ids(messages)
    reader = open_store(kafka_settings.store.path)
    try:
        stats = store_stats(reader)
    finally:
        reader.close()
    assert stats.episodes_completed == 300
    assert stats.consistent, stats


def test_every_stream_app_resolves_and_unknown_apps_are_refused() -> None:
    from streams.worker import APPS, app_builder, run_worker

    assert all(callable(app_builder(name)) for name in APPS)
    with pytest.raises(ValueError, match="unknown stream app 'nope'; choose from sink"):
        run_worker(Settings(kafka_bootstrap="127.0.0.1:9"), "nope")
