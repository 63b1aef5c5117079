"""Running the real pipeline in tests: Faust workers as processes, episodes, store queries."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec, Observation
from dojo.events import AnyEvent, Stamper, encode
from dojo.store import StoreUnavailable, open_store
from dojo.store.writer import endpoint_file
from dojo.topics import TOPIC_OF_EVENT, Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.progress import PipelineProbe
from dojo.workers.rollout import Action, rollout
from dojo.workers.supervisor import child_environment

T = TypeVar("T")


def _die_with_parent() -> None:  # runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Worker:
    """``python -m dojo streams worker --app <app>`` as a child process."""

    def __init__(self, settings: Settings, app: str, log: Path, **env: str) -> None:
        self.settings, self.app, self.log = settings, app, log
        self.env = {**child_environment(settings), **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dojo", "streams", "worker", "--app", self.app],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # a crashed test run leaves no worker behind
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.process is None:
            return None
        if self.alive():
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def wait_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            assert self.alive(), f"{self.app} exited:\n{self.text()[-3000:]}"
            if self.app == "sink":
                advert = endpoint_file(self.settings.store.path)
                with contextlib.suppress(OSError, ValueError):
                    return bool(json.loads(advert.read_text()).get("pid") == self.pid)
                return False
            return "scoring ready" in self.text()

        wait_for(ready, timeout, f"{self.app} to start")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def query(settings: Settings, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
    try:
        reader = open_store(settings.store.path)
    except StoreUnavailable:
        return []
    try:
        rows: list[dict[str, Any]] = reader.query(sql, params).to_pylist()
        return rows
    finally:
        reader.close()


def scalar(settings: Settings, sql: str) -> int:
    rows = query(settings, sql)
    return int(next(iter(rows[0].values()))) if rows else 0


class TokenisingActor:
    """The senior reference policy, with token ids and log-probs as a model would give them
    (bytes of the text), so the trajectories' token data can be checked end to end."""

    def __init__(self, seed: int) -> None:
        self._inner = ReferenceActor("senior", seed)

    @property
    def version(self) -> str:
        return "test-tokens"

    def act(self, observation: Observation, seed: int) -> Action:
        action = self._inner.act(observation, seed)
        completion = list(action.text.encode()[:12])
        return Action(
            text=action.text,
            prompt_text=action.prompt_text,
            prompt_token_ids=list(action.prompt_text.encode()[:20]),
            completion_token_ids=completion,
            logprobs=[-0.01 * (i + 1) for i in range(len(completion))],
            allowed_token_ids=[[t, 0] if i % 2 else None for i, t in enumerate(completion)],
        )


def episode_events(index: int, stage: int = 4) -> list[AnyEvent]:
    """A whole episode of type number ``index`` (cycling over all 13), as published."""
    spec = EpisodeSpec(
        episode_type=EPISODE_TYPES[index % len(EPISODE_TYPES)], seed=1000 + index, stage=stage
    )
    return list(rollout(spec, f"ep-t{index:04d}", TokenisingActor(index), Stamper("test-env")))


async def publish(settings: Settings, events: list[AnyEvent]) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        for event in events:
            name = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
            key = event.key.encode() if event.key is not None else None
            await producer.send(name, encode(event), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def publish_raw(settings: Settings, topic: Topic, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic_name(topic, settings.topic_prefix), value, key=key)
    finally:
        await producer.stop()


async def scoring_lag(settings: Settings) -> int:
    """Messages on the episodes, verdicts and rewards topics the scoring group has not committed."""
    topics = [
        topic_name(t, settings.topic_prefix)
        for t in (Topic.EPISODES, Topic.VERDICTS, Topic.REWARDS)
    ]
    probe = PipelineProbe(
        settings, settings.store.path, {"scoring": (f"{settings.topic_prefix}-scoring", topics)}
    )
    await probe.start()
    try:
        _, lags = await probe.kafka()
        return lags["scoring"]
    finally:
        await probe.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
