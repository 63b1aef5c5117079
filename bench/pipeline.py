"""End-to-end pipeline throughput against raw aiokafka, measured in the same run.

    python -m bench.pipeline --json

* raw: aiokafka produces N messages (the same bytes) to a 4-partition topic while a
  consumer reads them and ``json.loads`` each — the floor any Kafka pipeline pays.
* pipeline: the same N events go to ``dojo.episodes`` while a real sink worker
  (Faust, its own process) decodes, validates and writes them to a DuckDB store;
  the clock stops when the store holds all N.

Both are timed from the first send to the last message consumed / stored, on
one embedded broker. The figure that matters is the ratio (aim: ≥ 0.25).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dojo.broker.admin import ensure_topics
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.events import (
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    PhaseCompleted,
    PhaseStarted,
    derive_event_id,
    encode,
)
from dojo.events.samples import sample_events
from dojo.store import open_store
from dojo.store.writer import endpoint_file
from dojo.topics import Topic, topic_name
from dojo.workers.supervisor import child_environment

DECISIONS_PER_EPISODE = 10


def episode_messages(n_events: int) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: whole episodes of realistic events, each id unique."""
    templates = {type(e).__name__: e for e in sample_events()}
    shape = (
        [templates["EpisodeStarted"], templates["PhaseStarted"]]
        + [templates["DecisionMade"]] * DECISIONS_PER_EPISODE
        + [templates["PhaseCompleted"], templates["EpisodeCompleted"]]
    )
    messages: list[tuple[bytes, bytes]] = []
    episode = 0
    while len(messages) < n_events:
        episode_id = f"ep-bench-{episode:08d}"
        for seq, template in enumerate(shape):
            update: dict[str, object] = {
                "event_id": derive_event_id("bench", episode_id, seq),
                "episode_id": episode_id,
            }
            if isinstance(template, DecisionMade):
                update["decision_id"] = f"{episode_id}/{seq:03d}"
            if isinstance(template, EpisodeCompleted):
                update["event_count"] = len(shape) - 1
            assert isinstance(
                template,
                EpisodeStarted | PhaseStarted | DecisionMade | PhaseCompleted | EpisodeCompleted,
            )
            event = template.model_copy(update=update)
            messages.append((episode_id.encode(), encode(event)))
        episode += 1
    return messages[:n_events]


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_rate(bootstrap: str, messages: list[tuple[bytes, bytes]]) -> float:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    await admin.close()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    try:
        started = time.perf_counter()
        producing = asyncio.create_task(_produce(bootstrap, topic, messages))
        seen = 0
        while seen < len(messages):
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
        elapsed = time.perf_counter() - started
        await producing
    finally:
        await consumer.stop()
    return len(messages) / elapsed


def _stored(store: Path) -> int:
    reader = open_store(store)
    try:
        return int(reader.query("SELECT count(*) AS n FROM events").column(0)[0].as_py())
    finally:
        reader.close()


async def pipeline_rate(
    settings: Settings, messages: list[tuple[bytes, bytes]], log: Path
) -> float:
    with open(log, "ab") as log_file:
        sink = subprocess.Popen(
            [sys.executable, "-m", "dojo", "streams", "worker", "--app", "sink"],
            env=child_environment(settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        advert = endpoint_file(settings.store_path)
        deadline = time.monotonic() + 120
        while not (advert.exists() and json.loads(advert.read_text())["pid"] == sink.pid):
            if sink.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sink did not start; see {log}")
            await asyncio.sleep(0.1)
        topic = topic_name(Topic.EPISODES, settings.topic_prefix)
        started = time.perf_counter()
        producing = asyncio.create_task(_produce(settings.kafka_bootstrap or "", topic, messages))
        while await asyncio.to_thread(_stored, settings.store_path) < len(messages):
            if sink.poll() is not None:
                raise RuntimeError(f"the sink died; see {log}")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await producing
        return len(messages) / elapsed
    finally:
        sink.terminate()
        sink.wait(30)


async def run(events: int, workdir: Path) -> dict[str, object]:
    messages = episode_messages(events)
    async with EmbeddedBroker() as broker:
        settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            store_path=workdir / "bench.duckdb",
            data_dir=workdir / "data",
            topic_prefix=f"bench{uuid.uuid4().hex[:6]}",
        )
        await ensure_topics(settings)
        raw = await raw_rate(broker.bootstrap, messages)
        pipe = await pipeline_rate(settings, messages, workdir / "sink.log")
    return {
        "events": events,
        "mean_event_bytes": round(sum(len(v) for _, v in messages) / len(messages), 1),
        "raw_events_per_s": round(raw, 1),
        "pipeline_events_per_s": round(pipe, 1),
        "ratio": round(pipe / raw, 3),
        "target_ratio": 0.25,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dojo-bench-") as tmp:
        os.environ.pop("DOJO_KAFKA_BOOTSTRAP", None)
        result = asyncio.run(run(args.events, Path(tmp)))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
