"""The sink stays the store's single writer: a second sink is refused, and nothing is lost.

The scoring app scales by partition; the sink cannot, because the DuckDB store
has exactly one writer. A second sink in the sink's consumer group (here with
its own store file, as a second container with its own volume would have) would
split the events between two stores. Both see that their assignment misses
partitions and stop before writing any of it; the intruder's store stays empty;
the sink restarted alone resumes from its commits and stores every event once.
A second sink on the same store file is refused at once by the file's writer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

import duckdb
import pytest
from aiokafka.structs import TopicPartition
from scoring_support import Worker, episode_events, publish, query, run, wait_for

from dojo.config import Settings
from dojo.events import AnyEvent, encode
from dojo.store import Received, StoreWriter
from dojo.topics import TOPICS
from dojo.workers.supervisor import child_environment
from streams.single_writer import (
    SecondSink,
    SoleMember,
    check_store_matches_group,
    every_partition,
)

pytestmark = pytest.mark.timeout(300)

REFUSAL = "another sink has joined consumer group"


def stored_ids(settings: Settings) -> Counter[str]:
    return Counter(str(r["event_id"]) for r in query(settings, "SELECT event_id FROM events"))


def published_ids(events: list[AnyEvent]) -> set[str]:
    return {str(e.event_id) for e in events}


def test_a_sole_sink_holds_every_partition_of_the_table(kafka_settings: Settings) -> None:
    everything = every_partition(kafka_settings)
    assert len(everything) == sum(spec.partitions for spec in TOPICS.values())
    sole = SoleMember(kafka_settings, "g")
    sole.check(TopicPartition(t, p) for t, p in everything)
    sole.require()
    some = sorted(everything)[1:]
    with pytest.raises(SecondSink, match=REFUSAL):
        sole.check(TopicPartition(t, p) for t, p in some)
    with pytest.raises(SecondSink, match=f"assigned {len(some)} of {len(everything)} "):
        sole.require()  # and no batch is written after a refused assignment


def test_group_progress_without_a_store_is_refused(kafka_settings: Settings) -> None:
    group, (topic, partition) = "g", sorted(every_partition(kafka_settings))[0]
    check_store_matches_group(kafka_settings, group, True, {})  # a first start
    check_store_matches_group(kafka_settings, group, False, {(topic, partition): 9})  # a restart
    check_store_matches_group(kafka_settings, group, True, {("elsewhere", 0): 9})
    with pytest.raises(SecondSink, match=rf"{topic}\[{partition}\] at 9.*reset-offsets"):
        check_store_matches_group(kafka_settings, group, True, {(topic, partition): 9})


def test_a_second_sink_with_its_own_store_is_refused_and_the_first_goes_on(
    kafka_settings: Settings,
) -> None:
    settings = kafka_settings.replace(sink_batch_within_s=0.1)
    logs = settings.data_dir.parent
    # a second container with a fresh volume: another store, the same topics and group
    intruder = settings.replace(store_path=logs / "intruder.duckdb")
    first_round = [e for i in range(3) for e in episode_events(i)]
    second_round = [e for i in range(3, 6) for e in episode_events(i)]
    sink = Worker(settings, "sink", logs / "sink.log").start()
    try:
        sink.wait_ready()
        run(publish(settings, first_round))
        wait_for(lambda: len(stored_ids(settings)) >= len(first_round), 60, "the first round")

        second = sink_command(intruder)
        assert second.returncode == 2, second.stderr
        message = " ".join(second.stderr.split())
        assert f"consumer group '{settings.topic_prefix}-sink' has committed offsets" in message
        with duckdb.connect(str(intruder.store.path), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchall() == [(0,)]

        run(publish(settings, second_round))
        everything = published_ids(first_round + second_round)
        wait_for(lambda: set(stored_ids(settings)) >= everything, 60, "the second round")
        stored = stored_ids(settings)
        assert set(stored) == everything and set(stored.values()) == {1}
        assert sink.alive()
    finally:
        sink.stop()


def test_a_sink_that_finds_a_second_member_in_its_group_stops(kafka_settings: Settings) -> None:
    logs = kafka_settings.data_dir.parent
    sink = Worker(kafka_settings, "sink", logs / "sink.log").start()
    # a second sink whose store is not empty passes the start-up check, and joins
    planted = kafka_settings.replace(store_path=logs / "other.duckdb")
    writer = StoreWriter(planted.store.path)
    writer.write(
        [Received(e, encode(e), "elsewhere", 0, n) for n, e in enumerate(episode_events(9))]
    )
    writer.close()
    other = Worker(planted, "sink", logs / "other.log")
    try:
        sink.wait_ready()
        run(publish(kafka_settings, episode_events(0)))
        wait_for(lambda: stored_ids(kafka_settings), 60, "the sink to store")
        other.start()
        wait_for(lambda: not sink.alive(), 120, "the sink to refuse the shared group")
        assert sink.stop() != 0
        assert REFUSAL in sink.text(), sink.text()[-3000:]
    finally:
        for worker in (sink, other):
            worker.stop()


def sink_command(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dojo", "streams", "worker", "--app", "sink"],
        env=child_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_second_sink_on_the_same_store_is_refused_at_once(kafka_settings: Settings) -> None:
    logs = kafka_settings.data_dir.parent
    sink = Worker(kafka_settings, "sink", logs / "sink.log").start()
    try:
        sink.wait_ready()
        second = sink_command(kafka_settings)
        assert second.returncode == 2
        message = " ".join(second.stderr.split())
        assert f"already has a writer: pid {sink.pid}" in message, second.stderr
        assert sink.alive()
    finally:
        assert sink.stop(signal.SIGTERM) == 0
