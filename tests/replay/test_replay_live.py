"""Replay while a live sink holds the store: rows go through the broker, trajectories too.

Real broker, a real sink worker process, the real store. The replay cannot
open the store (the sink holds it), so it publishes its rewards and verdicts
for the sink to store and waits until they are; ``publish`` sends one
TrajectoryScored per episode with tokens, carrying the stored log-probs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from replay_support import episode, store_events

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import DecisionMade, TrajectoryScored, decode
from dojo.replay import ReplayOptions, run_replay
from dojo.store import open_store
from dojo.store.writer import endpoint_file
from dojo.topics import TOPICS, Topic
from dojo.workers.supervisor import child_environment

pytestmark = pytest.mark.timeout(240)

TOKENS = (0, 1, 5)  # episodes whose decisions carry token ids and log-probs
SCRIPTED = 4  # and one a scripted policy played: text only


@pytest.fixture
def live(kafka_settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, list[DecisionMade]]]:
    settings = kafka_settings.replace(judge="offline")
    events = [e for i in TOKENS for e in episode(i, tokens=True)] + episode(SCRIPTED)
    store_events(settings.store.path, events)
    log = tmp_path / "sink.log"
    with open(log, "ab") as out:
        sink = subprocess.Popen(
            [sys.executable, "-m", "dojo", "streams", "worker", "--app", "sink"],
            env=child_environment(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert sink.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(OSError, ValueError):
                advert = json.loads(endpoint_file(settings.store.path).read_text())
                if advert.get("pid") == sink.pid:
                    break
            assert time.monotonic() < deadline, "the sink did not start"
            time.sleep(0.2)
        yield settings, [e for e in events if isinstance(e, DecisionMade)]
    finally:
        sink.send_signal(signal.SIGTERM)
        try:
            sink.wait(60)
        except subprocess.TimeoutExpired:
            sink.kill()


def count(settings: Settings, table: str, where: str = "true") -> int:
    reader = open_store(settings.store.path)  # through the live sink's query endpoint
    try:
        sql = f"SELECT count(*) AS n FROM {table} WHERE {where}"
        return int(reader.query(sql).to_pylist()[0]["n"])
    finally:
        reader.close()


async def trajectories(settings: Settings, expected: int) -> list[TrajectoryScored]:
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    spec = TOPICS[Topic.TRAJECTORIES]
    parts = [TopicPartition(spec.name(settings.topic_prefix), p) for p in range(spec.partitions)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    found: list[TrajectoryScored] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < expected and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    event = decode(message.value)
                    assert isinstance(event, TrajectoryScored)
                    found.append(event)
    finally:
        await consumer.stop()
    return found


def test_replay_through_a_live_sink_and_republish(
    live: tuple[Settings, list[DecisionMade]],
) -> None:
    settings, decisions = live
    report = asyncio.run(run_replay(settings, ReplayOptions(publish=True)))
    assert report.mode == "kafka"
    assert report.rewards_new == report.decisions == len(decisions)
    assert report.published[Topic.REWARDS.value] == len(decisions)
    # the replay waited for the sink: every row is stored by the time it returns
    assert count(settings, "rewards") == len(decisions)
    # (hygiene judges a few twice, order swapped: those are stored too, apart)
    assert count(settings, "verdicts", "NOT swapped") == report.judge.verdicts > 0
    assert report.published[Topic.TRAJECTORIES.value] == len(TOKENS)
    assert report.trajectories_untrainable == 1

    sent = asyncio.run(trajectories(settings, len(TOKENS)))
    assert len(sent) == len(TOKENS)
    by_id = {d.decision_id: d for d in decisions}
    for trajectory in sent:
        assert trajectory.reward_version == report.reward_version
        assert trajectory.policy_version == "v000003"  # the version that produced the tokens
        assert trajectory.episode_reward == pytest.approx(
            sum(d.reward for d in trajectory.decisions)
        )
        steps = [d.step for d in trajectory.decisions]
        assert steps == sorted(steps)
        for scored in trajectory.decisions:
            made = by_id[scored.decision_id]
            # the behaviour log-probs as sampled: what the learner's importance ratio needs
            assert scored.logprobs == made.logprobs
            assert scored.completion_token_ids == made.completion_token_ids
            assert scored.prompt_token_ids == made.prompt_token_ids
            assert scored.allowed_token_ids == made.allowed_token_ids

    again = asyncio.run(run_replay(settings, ReplayOptions()))
    assert again.rewards_new == 0 and again.judge.asked == 0
    assert again.published == {Topic.VERDICTS.value: 0, Topic.REWARDS.value: 0}
    assert count(settings, "rewards") == len(decisions)
