"""The streaming learner: consumes TrajectoryScored, trains, checkpoints, publishes, commits.

One learner per base model (it owns one set of adapter weights), so it takes
every partition of the trajectories topic by assignment rather than through a
consumer-group rebalance: a restarted learner resumes at once, without waiting
for its killed predecessor's session to expire. The group id is still used
for offset commits, so consumer lag shows up like any other consumer's.

Per update (see :mod:`dojo.training.trainer` for why this order):

    wait for a batch ─▶ train ─▶ checkpoint (offsets + outbox) ─▶ publish if due
                     ─▶ send the outbox ─▶ commit the offsets

Where consumption starts: the newest checkpoint's offsets, else the group's
committed offsets, else the beginning. A message that does not decode becomes a
DeadLetter (sent with the update that passed it) and the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import DeadLetter, DecodeError, Stamper, TrajectoryScored, decode, encode
from dojo.events.deadletter import dead_letter
from dojo.policy.presets import learner_batch_size
from dojo.topics import TOPIC_OF_EVENT, Topic, topic_name
from dojo.training.tensorboard import TensorBoardLog, tensorboard_folder
from dojo.training.trainer import Trainer, UpdateResult

log = logging.getLogger(__name__)

CONSUMER = "learner"
GROUP_SUFFIX = "-learner"


@dataclass
class LearnerReport:
    """What a run of the learner did (the process prints it when it stops)."""

    updates: int = 0
    trajectories: int = 0
    dropped: int = 0
    skipped: int = 0
    #: delivered again after an earlier update consumed them (not trained twice)
    repeated: int = 0
    dead_letters: int = 0
    published: list[str] = field(default_factory=list)
    idle_s: float = 0.0
    busy_s: float = 0.0

    @property
    def idle_ratio(self) -> float:
        total = self.idle_s + self.busy_s
        return self.idle_s / total if total > 0 else 0.0


def offset_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def learner_group(settings: Settings) -> str:
    return f"{settings.topic_prefix}{GROUP_SUFFIX}"


class _Batcher:
    """Consumed records, decoded, in arrival order; a batch is a prefix of them.

    A prefix per partition too, so the next offsets after a batch never pass a
    record that is still waiting in the buffer.
    """

    def __init__(self, stamper: Stamper) -> None:
        self.stamper = stamper
        self.items: deque[tuple[ConsumerRecord, TrajectoryScored | DeadLetter]] = deque()
        self.ready = 0  # trajectories in the buffer

    def extend(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            item = self._decode(record)
            self.items.append((record, item))
            self.ready += isinstance(item, TrajectoryScored)

    def take(self, size: int) -> tuple[list[TrajectoryScored], list[DeadLetter], dict[str, int]]:
        """Up to ``size`` trajectories, the dead letters passed on the way, next offsets."""
        trajectories: list[TrajectoryScored] = []
        letters: list[DeadLetter] = []
        offsets: dict[str, int] = {}
        while self.items and len(trajectories) < size:
            record, item = self.items.popleft()
            offsets[offset_key(record.topic, record.partition)] = record.offset + 1
            if isinstance(item, TrajectoryScored):
                trajectories.append(item)
                self.ready -= 1
            else:
                letters.append(item)
        return trajectories, letters, offsets

    def _decode(self, record: ConsumerRecord) -> TrajectoryScored | DeadLetter:
        raw = record.value if isinstance(record.value, bytes) else b""
        try:
            event = decode(raw)
            if not isinstance(event, TrajectoryScored):
                raise DecodeError(
                    f"a {event.type} on the trajectories topic", "UnexpectedEventType"
                )
            return event
        except DecodeError as exc:
            return dead_letter(
                self.stamper,
                raw=raw,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                consumer=CONSUMER,
                reason=exc.reason,
                error_type=exc.error_type,
            )


async def run_learner(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    max_updates: int | None = None,
    on_update: Callable[[UpdateResult, LearnerReport], None] | None = None,
    on_ready: Callable[[Trainer], None] | None = None,
) -> LearnerReport:
    """Train until ``stop`` is set or ``max_updates`` updates are done; returns what it did."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    stamper = Stamper(f"learner@{socket.gethostname()}:{os.getpid()}")
    trainer = await loop.run_in_executor(None, Trainer.load, settings, stamper)
    topic = topic_name(Topic.TRAJECTORIES, settings.topic_prefix)
    report = LearnerReport()
    tensorboard = TensorBoardLog(tensorboard_folder(trainer.checkpoint_root, trainer.state.lineage))
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        group_id=learner_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        **aiokafka_options(settings),
        acks="all",
        enable_idempotence=False,  # refused by Tansu; the store is idempotent on event ids
        linger_ms=5,
        request_timeout_ms=30_000,
    )
    await consumer.start()
    await producer.start()
    try:
        partitions = await _assign(consumer, topic, trainer)

        async def send(encoded: list[str]) -> None:
            pending = []
            for payload in encoded:
                event = decode(payload.encode())
                target = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
                pending.append(await producer.send(target, payload.encode()))
            await asyncio.gather(*pending)

        async def commit(offsets: dict[str, int]) -> None:
            positions = {
                tp: OffsetAndMetadata(offsets[offset_key(tp.topic, tp.partition)], "")
                for tp in partitions
                if offset_key(tp.topic, tp.partition) in offsets
            }
            if positions:
                await consumer.commit(positions)

        # what the newest checkpoint still owes: a version, its outbox, the commit
        published = await loop.run_in_executor(None, trainer.publish_pending)
        await send(trainer.state.outbox + ([encode(published).decode()] if published else []))
        await commit(trainer.state.offsets)
        if on_ready is not None:
            on_ready(trainer)

        async def settle() -> None:
            """Checkpoint, publish what is due, send the outbox, commit: in that order."""
            await loop.run_in_executor(None, trainer.checkpoint)
            published = await loop.run_in_executor(None, trainer.publish_pending)
            outbox = trainer.state.outbox + ([encode(published).decode()] if published else [])
            await send(outbox)
            await commit(trainer.state.offsets)
            if published is not None:
                report.published.append(published.policy_version)
                log.info("published %s (update %d)", published.policy_version, published.updates)

        batcher = _Batcher(stamper)
        idle = busy = 0.0
        batch_size = learner_batch_size(settings)
        while not stop.is_set() and (max_updates is None or report.updates < max_updates):
            waited = time.monotonic()
            while batcher.ready < batch_size and not stop.is_set():
                fetched = await consumer.getmany(
                    timeout_ms=250, max_records=batch_size - batcher.ready
                )
                for tp in sorted(fetched, key=lambda tp: tp.partition):
                    batcher.extend(fetched[tp])
            idle += time.monotonic() - waited
            if stop.is_set():
                break

            started = time.monotonic()
            trajectories, letters, offsets = batcher.take(batch_size)
            for letter in letters:
                trainer.queue(letter)
            result = await loop.run_in_executor(None, trainer.train, trajectories)
            trainer.note_offsets(offsets)
            report.trajectories += len(result.trained)
            report.dropped += len(result.dropped)
            report.skipped += len(result.skipped)
            report.repeated += len(result.repeated)
            report.dead_letters += len(letters)
            if result.stats is None:  # nothing trainable: consumed, carried to the next update
                busy += time.monotonic() - started
                continue
            report.updates += 1
            busy += time.monotonic() - started
            extra = {"idle_ratio": idle / (idle + busy) if idle + busy > 0 else 0.0}
            trainer.record(result, extra)
            tensorboard.update(trainer.state.updates, {**result.metrics, **extra})
            report.idle_s += idle
            report.busy_s += busy
            idle = busy = 0.0
            if trainer.checkpoint_due():
                settling = time.monotonic()
                await settle()
                busy += time.monotonic() - settling  # counts toward the next update's ratio
            if on_update is not None:
                on_update(result, report)

        # a clean stop keeps every update: the last ones are checkpointed and published
        if trainer.finish():
            await settle()
    finally:
        tensorboard.close()
        await producer.stop()
        await consumer.stop()
    return report


async def _assign(consumer: AIOKafkaConsumer, topic: str, trainer: Trainer) -> list[TopicPartition]:
    """Take every partition; start at the checkpoint's offsets, else the committed ones."""
    numbers: set[int] | None = None
    for _ in range(100):
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            break
        await consumer._client.force_metadata_update()  # the first metadata may predate the topic
        await asyncio.sleep(0.1)
    if not numbers:
        raise RuntimeError(f"topic {topic} does not exist (create the topics first)")
    partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
    consumer.assign(partitions)
    for tp in partitions:
        saved = trainer.state.offsets.get(offset_key(tp.topic, tp.partition))
        if saved is None:
            committed = await consumer.committed(tp)
            saved = committed
        if saved is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, saved)
    return partitions
