"""The environment worker: runs episodes with a policy and publishes every event.

It plays ``DOJO_ENV_LOCKSTEP`` episodes side by side, all acted by the same
policy version: each round, one batched decode chooses the next move of every
episode still running (:func:`dojo.workers.rollout.act_all`; on a CPU a small
model's forward pass costs little more for eight sequences than for one). Newer
weights are picked up between rounds of episodes, never inside one.

Events go out as they happen (a decision is on the topic before the next one is
made), keyed by ``episode_id`` so an episode stays on one partition, in order.
At the end of its episodes the worker waits for every send to be acknowledged
(``acks=all``) before it counts an episode as published. A stop request lets
the running episodes finish, so a clean shutdown never tears an episode.

An acknowledgement from the embedded broker is not yet safety (it keeps
everything in memory): under ``dojo up`` on the embedded broker the worker keeps
each episode until the store shows it settled, and publishes what it keeps again
when told the broker lost everything (:mod:`dojo.workers.retention`). A send that
fails is kept and sent again too. With ``DOJO_ENV_LEDGER`` it records every
fully acknowledged episode's event ids (what fault accounting counts as published).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import AnyEvent, Stamper, encode
from dojo.store import open_store
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.training.samples import version_number
from dojo.workers.aat_rollout import AATPlayer
from dojo.workers.actors import make_actor
from dojo.workers.focus import focus_weights
from dojo.workers.retention import Message, Retention
from dojo.workers.rollout import Actor, EpisodeRun, act_all, end_episode
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
            settings.env.retain_until,
            lambda: open_store(settings.store.path, settings.store.url),
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


#: how often a worker that is ahead of the learner looks for its next version
LEAD_POLL_S = 0.05


@dataclass
class VersionLead:
    """How far a worker may run ahead of the learner it follows.

    The learner moves one version on per ``DOJO_LEARNER_BATCH_SIZE`` ×
    ``DOJO_LEARNER_PUBLISH_EVERY`` trajectories; a trajectory acted by a version it has
    left more than ``DOJO_LEARNER_MAX_POLICY_LAG`` behind is dropped unread, and on a
    shared machine the CPU it took is gone from the learner. So a worker plays its
    share (``per_version``) of that many episodes per version the learner has
    published since the worker started, plus ``DOJO_ENV_VERSION_LEAD`` versions'
    worth ahead, and then waits for the next version. After ``wait_s`` without one (the
    learner is slow, restarting or gone) it plays another version's worth.
    """

    per_version: float | None  # None: never waits (no learner to follow)
    lead: int
    wait_s: float
    first: int | None = None  # the version number the worker started on
    count: int = 0
    granted: int = 0  # versions' worth allowed by waiting
    waiting_since: float | None = None

    @classmethod
    def for_worker(cls, settings: Settings, *, follows_learner: bool) -> VersionLead:
        if not follows_learner or not settings.learner.enabled or settings.env.version_lead == 0:
            return cls(per_version=None, lead=0, wait_s=0.0)
        from dojo.policy.presets import learner_batch_size  # a model policy: torch is in

        per_version = learner_batch_size(settings) * settings.learner.publish_every
        return cls(
            per_version=per_version / settings.env.workers,
            lead=settings.env.version_lead,
            wait_s=settings.env.version_wait_s,
        )

    def admit(self, version: str, now: float) -> int:
        """How many episodes may start now, acted by ``version`` (0: wait for a newer one)."""
        if self.per_version is None:
            return sys.maxsize
        try:
            number = version_number(version)
        except ValueError:  # not a learner's version: nothing to keep pace with
            return sys.maxsize
        if self.first is None:
            self.first = number
        versions = number - self.first + self.lead + self.granted
        allowed = math.ceil(versions * self.per_version) - self.count
        if allowed > 0:
            self.waiting_since = None
            return allowed
        if self.waiting_since is None:
            self.waiting_since = now
        if now - self.waiting_since < self.wait_s:
            return 0
        self.granted += 1  # waited long enough: another version's worth
        self.waiting_since = None
        return self.admit(version, now)

    def played(self, episodes: int) -> None:
        self.count += episodes


@dataclass
class _Sending:
    """One episode's sends: every message (kept for a resend) and the acknowledgements due."""

    messages: list[Message] = field(default_factory=list)
    pending: list[asyncio.Future[object]] = field(default_factory=list)
    refused: KafkaError | None = None

    async def send(
        self, events: list[AnyEvent], producer: AIOKafkaProducer, settings: Settings,
        report: WorkerReport,
    ) -> None:  # fmt: skip
        for event in events:
            topic = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
            key = event.key.encode() if event.key is not None else None
            value = encode(event)
            self.messages.append((topic, key, value))
            report.by_type[event.type] = report.by_type.get(event.type, 0) + 1
            if self.refused is None:
                try:
                    self.pending.append(await producer.send(topic, value, key=key))
                except KafkaError as exc:  # no broker: the episode goes on, held
                    self.refused = exc


def _start_all(runs: list[EpisodeRun]) -> list[tuple[str, list[AnyEvent]]]:
    return [(run.episode_id, run.start()) for run in runs]


def _step_all(actor: Actor, runs: list[EpisodeRun]) -> list[tuple[str, list[AnyEvent]]]:
    """One move for every episode still running, chosen together (one batch for a model)."""
    active = [run for run in runs if run.observation is not None]
    if not active:
        return []
    started = time.perf_counter()
    actions = act_all(
        actor, [run.observation for run in active if run.observation is not None],
        [run.action_seed for run in active], [run.episode_id for run in active],
    )  # fmt: skip
    # a batched decision's generation time is its batch's: that is what it waited
    elapsed_ms = (time.perf_counter() - started) * 1000
    produced = []
    for run, action in zip(active, actions, strict=True):
        produced.append((run.episode_id, run.apply(action, elapsed_ms)))
        if run.done:  # a chat model's conversation (and its KV cache) goes with the episode
            end_episode(actor, run.episode_id)
    return produced


def _ledger(settings: Settings, index: int) -> TextIO | None:
    """``<data_dir>/ledgers/env-worker-<i>-<pid>.jsonl``: one line per acknowledged episode."""
    if not settings.env.ledger:
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
    actor = actor or make_actor(settings.policy.name, settings, seed=index)
    # DOJO_ENV_BACKEND=aat: AAT's episodes, the policy as AAT's candidate
    aat = AATPlayer.from_settings(settings) if settings.env.backend == "aat" else None
    source = f"env-worker-{index}@{socket.gethostname()}:{os.getpid()}"
    stamper = Stamper(source)
    worker_seed = uuid.uuid4().int % (1 << 62)
    # the curriculum's stage as the evals topic has it (StageChanged), DOJO_STAGE at first
    follower = StageFollower(settings)
    await follower.start()
    stage = follower.current
    types = settings.env.episode_types or None

    def weights(offered: Sequence[str]) -> list[float]:
        # the acting version's returns (an LMActor picks up each new one between
        # episodes); a scripted actor has none, and deals uniformly
        returns = getattr(actor, "type_returns", {})
        return focus_weights(offered, returns, settings.env.focus, settings.env.focus_temperature)

    specs = training_specs(stage, worker_seed, types, weights)
    report = WorkerReport()
    loop = asyncio.get_running_loop()
    producer = make_producer(settings)
    await producer.start()
    outbox = _Outbox(settings, producer, index)
    lead = VersionLead.for_worker(
        settings, follows_learner=getattr(actor, "registry", None) is not None
    )
    try:
        while not stop.is_set() and (episodes is None or report.episodes < episodes):
            if broker_lost.is_set():
                broker_lost.clear()
                outbox.retention.broker_lost_everything()
            # what the broker lost or refused goes out again first, in order
            if not await outbox.resend() or await outbox.settle() >= settings.env.max_held:
                await asyncio.sleep(1.0)  # back-pressure: the pipeline is behind or down
                continue
            # between episodes, never inside one: an episode has one policy_version
            await loop.run_in_executor(None, actor.between_episodes)
            size = lead.admit(actor.version, loop.time())
            if size == 0:  # ahead of the learner: wait for its next version
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LEAD_POLL_S)
                continue
            if (now := await follower.stage()) != stage:
                stage, specs = now, training_specs(now, worker_seed, types, weights)
            size = min(size, settings.env.lockstep)
            if episodes is not None:
                size = min(size, episodes - report.episodes)
            if aat is None:
                runs = [
                    EpisodeRun(next(specs), f"ep-{uuid.uuid4().hex[:20]}", actor.version, stamper)
                    for _ in range(size)
                ]
                sending = {run.episode_id: _Sending() for run in runs}
                # policy generation is CPU work: keep it off the loop so sends flow meanwhile
                produced = await loop.run_in_executor(None, _start_all, runs)
                while produced:
                    for episode_id, events in produced:
                        await sending[episode_id].send(events, producer, settings, report)
                    produced = await loop.run_in_executor(None, _step_all, actor, runs)
                played = [run.episode_id for run in runs]
            else:
                # AAT runs a whole episode per call (dojo.workers.aat_rollout), one at a time
                played = [f"ep-{uuid.uuid4().hex[:20]}" for _ in range(size)]
                sending = {episode_id: _Sending() for episode_id in played}
                for episode_id in played:
                    events = await aat.play(next(specs), episode_id, actor, stamper)
                    await sending[episode_id].send(events, producer, settings, report)
            lead.played(len(played))
            for episode_id in played:
                out = sending[episode_id]
                sent = out.refused is None and await outbox.acknowledged(out.pending)
                outbox.published(episode_id, out.messages, sent)
                report.episodes += 1
                report.events += len(out.pending)
                if on_episode is not None:
                    on_episode(report)
        if broker_lost.is_set():
            outbox.retention.broker_lost_everything()
        await outbox.drain(settings.env.settle_timeout_s)
        report.republished = outbox.retention.republished
    finally:
        outbox.close()
        await producer.stop()
        await follower.stop()
    return report
