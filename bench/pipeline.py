"""End-to-end pipeline throughput against raw aiokafka, measured in the same run.

    python -m bench.pipeline --json

* raw: aiokafka produces N messages (the same bytes) to a 4-partition topic while a
  consumer reads them and ``json.loads`` each — the floor any Kafka pipeline pays.
* pipeline: the same N events go to ``dojo.episodes`` while a real sink worker
  (its own process: an aiokafka loader) decodes, validates and writes them to a DuckDB store;
  the clock stops when the store holds all N.

Both are timed from the first send to the last message consumed / stored, on
one embedded broker. The figure that matters is the ratio (aim: ≥ 0.5). The store
is polled every 0.25 s (through the sink, like any reader): often enough for a
~1 % timing error, rarely enough not to load the sink it measures.
``sink_cpu_us_per_event`` (Linux) is the sink process's CPU time per event: unlike
the rates, it hardly moves when other jobs share the machine, so it is the figure
to compare sink versions by. ``--repeat N`` runs it all N times and reports the
median ratio.
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
POLL_S = 0.25
#: sent and awaited before the clock starts: both consumers have joined their group and
#: fetched once, so the figures are throughput, not start-up
WARM_UP = 2 * (DECISIONS_PER_EPISODE + 4)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def episode_messages(n_events: int, run: str = "bench") -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: whole episodes of realistic events, each id unique (per ``run``)."""
    templates = {type(e).__name__: e for e in sample_events()}
    shape = (
        [templates["EpisodeStarted"], templates["PhaseStarted"]]
        + [templates["DecisionMade"]] * DECISIONS_PER_EPISODE
        + [templates["PhaseCompleted"], templates["EpisodeCompleted"]]
    )
    messages: list[tuple[bytes, bytes]] = []
    episode = 0
    while len(messages) < n_events:
        episode_id = f"ep-{run}-{episode:08d}"
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

    async def consume(count: int) -> None:
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)

    try:
        await _produce(bootstrap, topic, episode_messages(WARM_UP, "warm-up"))
        await consume(WARM_UP)
        started = time.perf_counter()
        producing = asyncio.create_task(_produce(bootstrap, topic, messages))
        await consume(len(messages))
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
) -> tuple[float, float | None]:
    """(events stored per second, sink CPU microseconds per event)."""
    with open(log, "ab") as log_file:
        sink = subprocess.Popen(
            [sys.executable, "-m", "dojo", "streams", "worker", "--app", "sink"],
            env=child_environment(settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        advert = endpoint_file(settings.store.path)
        deadline = time.monotonic() + 120
        while not (advert.exists() and json.loads(advert.read_text())["pid"] == sink.pid):
            if sink.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sink did not start; see {log}")
            await asyncio.sleep(0.1)
        topic = topic_name(Topic.EPISODES, settings.topic_prefix)
        bootstrap = settings.kafka.bootstrap or ""
        await _produce(bootstrap, topic, episode_messages(WARM_UP, "warm-up"))
        while await asyncio.to_thread(_stored, settings.store.path) < WARM_UP:
            if sink.poll() is not None:
                raise RuntimeError(f"the sink died; see {log}")
            await asyncio.sleep(POLL_S)
        cpu_before = process_cpu_s(sink.pid)
        started = time.perf_counter()
        producing = asyncio.create_task(_produce(bootstrap, topic, messages))
        while await asyncio.to_thread(_stored, settings.store.path) < WARM_UP + len(messages):
            if sink.poll() is not None:
                raise RuntimeError(f"the sink died; see {log}")
            await asyncio.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        cpu_after = process_cpu_s(sink.pid)
        await producing
        cpu = None
        if cpu_before is not None and cpu_after is not None:
            cpu = (cpu_after - cpu_before) / len(messages) * 1e6
        return len(messages) / elapsed, cpu
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
        pipe, cpu = await pipeline_rate(settings, messages, workdir / "sink.log")
    return {
        "events": events,
        "mean_event_bytes": round(sum(len(v) for _, v in messages) / len(messages), 1),
        "raw_events_per_s": round(raw, 1),
        "pipeline_events_per_s": round(pipe, 1),
        "ratio": round(pipe / raw, 3),
        "target_ratio": 0.5,
        "sink_cpu_us_per_event": None if cpu is None else round(cpu, 1),
    }


def summarise(runs: list[dict[str, object]]) -> dict[str, object]:
    """One run as is; several as the run with the median ratio, plus every ratio."""
    if len(runs) == 1:
        return runs[0]
    ranked = sorted(runs, key=lambda r: float(r["ratio"]))  # type: ignore[arg-type]
    return {**ranked[len(ranked) // 2], "runs": len(runs), "ratios": [r["ratio"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median ratio is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    os.environ.pop("DOJO_KAFKA_BOOTSTRAP", None)
    runs = []
    for n in range(max(args.repeat, 1)):
        with tempfile.TemporaryDirectory(prefix="dojo-bench-") as tmp:
            runs.append(asyncio.run(run(args.events, Path(tmp))))
        if not args.json:
            print(f"run {n + 1}: ratio {runs[-1]['ratio']}", file=sys.stderr)
    result = summarise(runs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
