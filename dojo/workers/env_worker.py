"""The environment worker: runs episodes with a policy and publishes every event.

Events go out as they happen (a decision is on the topic before the next one is
made), keyed by ``episode_id`` so an episode stays on one partition, in order.
At the end of each episode the worker waits for every send to be acknowledged
(``acks=all``) before it counts the episode as published. A stop request lets
the running episode finish, so a clean shutdown never tears an episode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import Stamper, encode
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.workers.actors import make_actor
from dojo.workers.rollout import Actor, rollout
from dojo.workers.schedule import training_specs
from dojo.workers.stage_follower import StageFollower

log = logging.getLogger(__name__)


@dataclass
class WorkerReport:
    episodes: int = 0
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


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


async def run_env_worker(
    settings: Settings,
    *,
    index: int = 0,
    episodes: int | None = None,
    stop: asyncio.Event | None = None,
    actor: Actor | None = None,
    on_episode: Callable[[WorkerReport], None] | None = None,
) -> WorkerReport:
    """Run episodes until ``episodes`` are published or ``stop`` is set."""
    stop = stop or asyncio.Event()
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
    try:
        while not stop.is_set() and (episodes is None or report.episodes < episodes):
            # between episodes, never inside one: an episode has one policy_version
            await loop.run_in_executor(None, actor.between_episodes)
            if (now := await follower.stage()) != stage:
                stage, specs = now, training_specs(now, worker_seed)
            spec = next(specs)
            episode_id = f"ep-{uuid.uuid4().hex[:20]}"
            events = rollout(spec, episode_id, actor, stamper)
            pending = []
            while True:
                # policy generation is CPU work: keep it off the loop so sends flow meanwhile
                event = await loop.run_in_executor(None, next, events, None)
                if event is None:
                    break
                topic = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
                key = event.key.encode() if event.key is not None else None
                pending.append(await producer.send(topic, encode(event), key=key))
                report.by_type[event.type] = report.by_type.get(event.type, 0) + 1
            await asyncio.gather(*pending)
            report.episodes += 1
            report.events += len(pending)
            if on_episode is not None:
                on_episode(report)
    finally:
        await producer.stop()
        await follower.stop()
    return report
