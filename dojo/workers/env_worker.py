"""The environment worker: runs episodes with a policy and publishes every event.

Events go out as they happen (a decision is on the topic before the next one is
made), keyed by ``episode_id`` so an episode stays on one partition, in order.
At the end of each episode the worker waits for every send to be acknowledged
(``acks=all``) before it counts the episode as published. A stop request lets
the running episode finish, so a clean shutdown never tears an episode.

An acknowledgement from the embedded broker is not yet safety (it keeps
everything in memory): under ``dojo up`` on the embedded broker the worker keeps
each episode until the store shows it settled, and publishes what it keeps again
when told the broker lost everything (:mod:`dojo.workers.retention`). A send that
fails is kept and sent again too. With ``DOJO_ENV_LEDGER`` it records every
fully acknowledged episode's event ids (what fault accounting counts as published).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import Stamper, encode
from dojo.store import open_store
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.workers.actors import make_actor
from dojo.workers.retention import Message, Retention
from dojo.workers.rollout import Actor, rollout
from dojo.workers.schedule import training_specs
from dojo.workers.stage_follower import StageFollower

log = logging.getLogger(__name__)


@dataclass
class WorkerReport:
    episodes: int = 0
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    #: episodes sent again after the broker lost or refused them
    republished: int = 0


def make_producer(settings: Settings) -> AIOKafkaProducer:
    # Tansu (and many managed Kafkas) refuse InitProducerId, hence no idempotence:
    # duplicates from retries are absorbed by the idempotent sinks instead.
    return AIOKafkaProducer(
        **aiokafka_options(settings),
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


class _Outbox:
    """Sends episodes and follows them until settled (:mod:`dojo.workers.retention`);
    records each fully acknowledged episode in the ledger when one is kept."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer, index: int) -> None:
        self.producer = producer
        self.retention = Retention(
            settings.env_retain_until,
            lambda: open_store(settings.store_path, settings.store_url),
        )
        self.ledger = _ledger(settings, index)
        self._settled_at = 0.0

    async def acknowledged(self, futures: list[asyncio.Future[object]]) -> bool:
        """Whether every send was acknowledged (a failed one is held, to be sent again)."""
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning("%d of %d sends failed (%s): held to send again", len(failures),
                        len(results), failures[0])  # fmt: skip
        return not failures

    def record(self, episode_id: str, messages: list[Message]) -> None:
        if self.ledger is not None:
            ids = [json.loads(value)["event_id"] for _, _, value in messages]
            self.ledger.write(json.dumps({"episode_id": episode_id, "event_ids": ids}) + "\n")
            self.ledger.flush()

    def published(self, episode_id: str, messages: list[Message], ok: bool) -> None:
        self.retention.keep(episode_id, messages, unsent=not ok)
        if ok:
            self.record(episode_id, messages)

    async def resend(self) -> bool:
        """Send the held episodes that must go out again, oldest first; False if one failed."""
        for episode_id, held in self.retention.unsent():
            try:
                futures = [await self.producer.send(t, v, key=k) for t, k, v in held.messages]
            except KafkaError as exc:
                log.warning("cannot send held episodes yet: %s", exc)
                return False
            if not await self.acknowledged(futures):
                return False
            held.unsent = False
            self.retention.republished += 1
            self.record(episode_id, held.messages)
        return True

    async def settle(self, every_s: float = 2.0) -> int:
        loop = asyncio.get_running_loop()
        if loop.time() - self._settled_at >= every_s:
            self._settled_at = loop.time()
            await loop.run_in_executor(None, self.retention.settle)
        return len(self.retention.held)

    async def drain(self, timeout_s: float) -> None:
        """Before exiting: deliver and see settled what is held, within ``timeout_s``."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.retention.held and asyncio.get_running_loop().time() < deadline:
            if await self.resend():
                await self.settle(every_s=0.5)
            await asyncio.sleep(0.5)
        if self.retention.held:
            log.warning("exiting with %d episodes not yet settled downstream",
                        len(self.retention.held))  # fmt: skip

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()


def _ledger(settings: Settings, index: int) -> TextIO | None:
    """``<data_dir>/ledgers/env-worker-<i>-<pid>.jsonl``: one line per acknowledged episode."""
    if not settings.env_ledger:
        return None
    folder = settings.data_dir / "ledgers"
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / f"env-worker-{index}-{os.getpid()}.jsonl", "a")


async def run_env_worker(
    settings: Settings,
    *,
    index: int = 0,
    episodes: int | None = None,
    stop: asyncio.Event | None = None,
    actor: Actor | None = None,
    on_episode: Callable[[WorkerReport], None] | None = None,
    broker_lost: asyncio.Event | None = None,
) -> WorkerReport:
    """Run episodes until ``episodes`` are published or ``stop`` is set.

    ``broker_lost`` is set (by ``dojo up``, through SIGUSR1) when the embedded broker
    was restarted and lost what it held: what is held is published again.
    """
    stop = stop or asyncio.Event()
    broker_lost = broker_lost or asyncio.Event()
    actor = actor or make_actor(settings.policy, settings, seed=index)
    source = f"env-worker-{index}@{socket.gethostname()}:{os.getpid()}"
    stamper = Stamper(source)
    worker_seed = uuid.uuid4().int % (1 << 62)
    # the curriculum's stage as the evals topic has it (StageChanged), DOJO_STAGE at first
    follower = StageFollower(settings)
    await follower.start()
    stage = follower.current
    specs = training_specs(stage, worker_seed)
    report = WorkerReport()
    loop = asyncio.get_running_loop()
    producer = make_producer(settings)
    await producer.start()
    outbox = _Outbox(settings, producer, index)
    try:
        while not stop.is_set() and (episodes is None or report.episodes < episodes):
            if broker_lost.is_set():
                broker_lost.clear()
                outbox.retention.broker_lost_everything()
            # what the broker lost or refused goes out again first, in order
            if not await outbox.resend() or await outbox.settle() >= settings.env_max_held:
                await asyncio.sleep(1.0)  # back-pressure: the pipeline is behind or down
                continue
            # between episodes, never inside one: an episode has one policy_version
            await loop.run_in_executor(None, actor.between_episodes)
            if (now := await follower.stage()) != stage:
                stage, specs = now, training_specs(now, worker_seed)
            spec = next(specs)
            episode_id = f"ep-{uuid.uuid4().hex[:20]}"
            events = rollout(spec, episode_id, actor, stamper)
            pending = []
            messages: list[Message] = []
            refused: KafkaError | None = None
            while True:
                # policy generation is CPU work: keep it off the loop so sends flow meanwhile
                event = await loop.run_in_executor(None, next, events, None)
                if event is None:
                    break
                topic = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
                key = event.key.encode() if event.key is not None else None
                value = encode(event)
                messages.append((topic, key, value))
                report.by_type[event.type] = report.by_type.get(event.type, 0) + 1
                if refused is None:
                    try:
                        pending.append(await producer.send(topic, value, key=key))
                    except KafkaError as exc:  # no broker: the episode goes on, held
                        refused = exc
            sent = refused is None and await outbox.acknowledged(pending)
            outbox.published(episode_id, messages, sent)
            report.episodes += 1
            report.events += len(pending)
            if on_episode is not None:
                on_episode(report)
        if broker_lost.is_set():
            outbox.retention.broker_lost_everything()
        await outbox.drain(settings.env_settle_timeout_s)
        report.republished = outbox.retention.republished
    finally:
        outbox.close()
        await producer.stop()
        await follower.stop()
    return report
