"""Scoring scale-out: one scoring worker against two, on the same backlog, in the same run.

    python -m bench.scale --json

A backlog of whole episodes (the senior reference policy; every decision judged by the
offline judge, as by default) waits on a fresh ``dojo.episodes``; then the workers are
started, and the clock runs from the moment they hold the partitions until every
episode's ``TrajectoryScored`` is on the trajectories topic. The baseline is one worker;
the figure is the ratio of two workers' decisions/s to it (ideal 2.0 on a machine with a
core per worker to spare; the broker and the clients share the rest). No sink runs:
this measures the scoring app, which is what scales by partition. Each worker is its
own ``dojo streams worker --app scoring`` process. ``cpu_us_per_decision`` is the
workers' CPU time per decision (Linux): 10^6 / it is what one core of this kind scores
per second, the figure to size a cluster by when the machine measured on is shared.
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
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.pipeline import process_cpu_s
from dojo.broker.admin import ensure_topics
from dojo.broker.connection import aiokafka_options
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec
from dojo.events import AnyEvent, DecisionMade, Stamper, encode
from dojo.topics import EPISODE_PARTITIONS, TOPIC_OF_EVENT, Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout
from dojo.workers.supervisor import child_environment
from streams.adverts import live_adverts


def backlog(episodes: int) -> list[AnyEvent]:
    stamper = Stamper("bench-scale")
    events: list[AnyEvent] = []
    for n in range(episodes):
        spec = EpisodeSpec(episode_type=EPISODE_TYPES[n % len(EPISODE_TYPES)], seed=n, stage=4)
        events += rollout(spec, f"ep-b{n:05d}", ReferenceActor("senior", n), stamper)
    return events


async def publish(settings: Settings, events: list[AnyEvent]) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        for event in events:
            key = event.key.encode() if event.key is not None else None
            name = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
            await producer.send(name, encode(event), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def count_scored(settings: Settings, episodes: int, timeout: float) -> float:
    """Seconds until ``episodes`` distinct episodes have a trajectory (from now)."""
    consumer = AIOKafkaConsumer(
        topic_name(Topic.TRAJECTORIES, settings.topic_prefix),
        **aiokafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    started = time.monotonic()
    seen: set[bytes] = set()
    try:
        while len(seen) < episodes:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{len(seen)} of {episodes} episodes scored in {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=200)
            seen.update(m.key for messages in batch.values() for m in messages if m.key)
        return time.monotonic() - started
    finally:
        await consumer.stop()


def held_partitions(settings: Settings) -> list[set[int]]:
    held = []
    for advert in live_adverts(settings, "scoring"):
        try:
            held.append(
                set(httpx.get(f"{advert.url}/scoring/stats", timeout=5).json()["partitions"])
            )
        except (httpx.HTTPError, ValueError, KeyError):
            held.append(set())
    return held


def measure(bootstrap: str, events: list[AnyEvent], workers: int, root: Path) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        store_path=root / prefix / "absent.duckdb",
        data_dir=root / prefix,
        consumer_session_timeout_s=6.0,
        consumer_heartbeat_interval_s=0.5,
    )
    asyncio.run(ensure_topics(settings))
    episodes = len({e.key for e in events if isinstance(e, DecisionMade)})
    logs = root / prefix
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for n in range(workers):
        with open(logs / f"scoring-{n}.log", "ab") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dojo", "streams", "worker", "--app", "scoring"],
                    env=child_environment(settings),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 180
        while True:  # every worker up, and the partitions split between them
            held = held_partitions(settings)
            if (
                len(held) == workers
                and all(held)
                and set().union(*held) == set(range(EPISODE_PARTITIONS))
            ):
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"scoring workers did not start; see {logs}")
            time.sleep(0.25)
        cpu_before = [process_cpu_s(p.pid) for p in processes]
        published = time.monotonic()
        asyncio.run(publish(settings, events))
        publish_s = time.monotonic() - published
        seconds = publish_s + asyncio.run(count_scored(settings, episodes, 600))
        cpu_after = [process_cpu_s(p.pid) for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
    decisions = sum(isinstance(e, DecisionMade) for e in events)
    cpu_us = None
    spent = [a - b for a, b in zip(cpu_after, cpu_before, strict=True) if a and b]
    if len(spent) == workers:
        cpu_us = round(sum(spent) / decisions * 1e6, 1)
    return {
        "workers": workers,
        "episodes": episodes,
        "decisions": decisions,
        "seconds": round(seconds, 2),
        "decisions_per_s": round(decisions / seconds, 1),
        "partitions": sorted(len(p) for p in held),
        # CPU time of the workers per decision: hardly moves with other load, unlike the rate
        "cpu_us_per_decision": cpu_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    events = backlog(args.episodes)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        one = measure(broker.bootstrap, events, 1, Path(tmp))
        two = measure(broker.bootstrap, events, 2, Path(tmp))
    result = {
        "cpus": os.cpu_count(),
        "one_worker": one,
        "two_workers": two,
        "ratio": round(two["decisions_per_s"] / one["decisions_per_s"], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    for run in (one, two):
        print(
            f"{run['workers']} scoring worker(s): {run['decisions']} decisions of "
            f"{run['episodes']} episodes in {run['seconds']} s = {run['decisions_per_s']}/s, "
            f"{run['cpu_us_per_decision']} CPU us per decision"
        )
    print(f"two workers / one: {result['ratio']}x on {result['cpus']} CPUs")


if __name__ == "__main__":
    main()
