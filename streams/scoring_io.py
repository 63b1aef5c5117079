"""What every scoring agent shares: reading Dojo events off a message, rejecting bad ones,
and publishing its results so that nothing is acknowledged before it is delivered.

Each agent processes a batch of messages, collects what it will publish in an
:class:`Outbox`, waits until the broker has acknowledged all of it, and only
then records in its state table that the work is done. The batch's offsets are
committed later still (when the agent asks for the next batch). A worker killed
anywhere in between re-reads the batch and publishes the same events again —
with the same ids, derived from what they are, so the idempotent sink stores
them once.

A message that is not a Dojo event, or an event that contradicts what the agent
knows (a decision before its episode started, an episode that announces more
decisions than arrived), becomes a DeadLetter on the dead-letter topic, and
the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faust

from dojo.config import Settings
from dojo.events import (
    AnyEvent,
    DecisionMade,
    DecodeError,
    Event,
    JudgeFailed,
    JudgeVerdict,
    Stamper,
    decode,
    encode,
)
from dojo.events.deadletter import dead_letter
from dojo.judge.sampling import SamplingConfig
from dojo.judge.selection import is_due
from dojo.topics import Topic, topic_name

if TYPE_CHECKING:  # streams.state builds on this module
    from streams.state import EpisodeTable

log = logging.getLogger("streams.scoring")

#: The consumer named in dead letters for undecodable messages: one name for all
#: scoring agents, so a bad message is recorded once, not once per agent.
DECODER = "scoring"


class ScoringIO:
    """Output topics and the dead-letter path of the scoring app."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.settings = settings
        self.stamper = Stamper(f"scoring@{settings.topic_prefix}")
        self._topics: dict[Topic, Any] = {
            t: app.topic(
                topic_name(t, settings.topic_prefix),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )
            for t in (Topic.REWARDS, Topic.VERDICTS, Topic.TRAJECTORIES, Topic.DRIFT)
        }
        self._dead = app.topic(
            topic_name(Topic.DEAD_LETTERS, settings.topic_prefix),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.rejected = 0

    def topic(self, which: Topic) -> Any:
        return self._topics[which]

    def outbox(self) -> Outbox:
        return Outbox(self)

    def decode(self, event: faust.EventT, outbox: Outbox) -> AnyEvent | None:
        """The Dojo event in ``event``'s message, or ``None`` (and a dead letter) if it is none."""
        raw = event.message.value
        try:
            return decode(raw if isinstance(raw, bytes) else b"")
        except DecodeError as exc:
            self.reject(event, outbox, DECODER, exc.reason, exc.error_type)
            return None

    def reject(
        self,
        event: faust.EventT,
        outbox: Outbox,
        consumer: str,
        reason: str,
        error_type: str,
    ) -> None:
        """Dead-letter the message of ``event``: ``consumer`` could not use it, for ``reason``."""
        message = event.message
        raw = message.value if isinstance(message.value, bytes) else None
        self.reject_at(
            outbox, raw, message.topic, message.partition, message.offset, consumer, reason,
            error_type,
        )  # fmt: skip

    def reject_at(
        self,
        outbox: Outbox,
        raw: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        consumer: str,
        reason: str,
        error_type: str,
    ) -> None:
        """A dead letter for the message at ``topic/partition/offset`` (``raw``: its bytes)."""
        letter = dead_letter(
            self.stamper,
            raw=raw,
            topic=topic,
            partition=partition,
            offset=offset,
            consumer=consumer,
            reason=reason,
            error_type=error_type,
        )
        self.rejected += 1
        log.warning(
            "dead letter from %s/%d@%d (%s): %s", topic, partition, offset, consumer, reason
        )
        outbox.add_raw(self._dead, None, encode(letter))


@dataclass(frozen=True)
class AwaitedJudge:
    """The judge whose answers attribution and the assembler wait for: its version, and
    the sampling that picks the decisions it grades."""

    version: str
    sampling: SamplingConfig

    def grades(self, decision: DecisionMade) -> bool:
        """Whether ``decision`` is due (:func:`dojo.judge.selection.is_due`): one answer
        of this judge will come for it."""
        return is_due(decision.decision_id, decision.episode_id, decision.signals, self.sampling)

    def answered_by(self, event: JudgeVerdict | JudgeFailed) -> bool:
        """Whether ``event`` is that answer: of this judge's version (not another judge's,
        a replay's say), and not hygiene's swapped-order repeat."""
        swapped = isinstance(event, JudgeVerdict) and event.swapped
        return event.judge_version == self.version and not swapped


class Outbox:
    """Messages one batch will publish; :meth:`deliver` sends them and waits for the acks."""

    def __init__(self, io: ScoringIO) -> None:
        self._io = io
        self._pending: list[tuple[Any, bytes | None, bytes]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, which: Topic, event: Event) -> None:
        key = event.key.encode() if event.key is not None else None
        self.add_raw(self._io.topic(which), key, encode(event))  # type: ignore[arg-type]

    def add_raw(self, topic: Any, key: bytes | None, value: bytes) -> None:
        self._pending.append((topic, key, value))

    async def deliver(self) -> int:
        """Send everything, then wait until the broker has acknowledged every message.

        Each ``send`` only hands the message to the producer's batches; the
        acknowledgements are awaited together. Returns how many were sent.
        """
        pending, self._pending = self._pending, []
        futures = [await t.send(key=k, value=v, force=True) for t, k, v in pending]
        if futures:
            await asyncio.gather(*futures)
        return len(futures)


def batch_agent(
    app: faust.App,
    io: ScoringIO,
    source: Any,
    name: str,
    process: Callable[[list[faust.EventT]], Awaitable[None]],
    table: EpisodeTable | None = None,
) -> None:
    """Register the agent ``name`` on ``app``: ``process`` gets ``source``'s messages in
    batches (``DOJO_SCORING_BATCH_SIZE`` at most, or what came within
    ``DOJO_SCORING_BATCH_WITHIN_S``), and the next batch once the agent's ``table`` has
    written this one's changes to its changelog."""
    settings = io.settings

    async def take_batches(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]
            settings.scoring.batch_size, within=settings.scoring.batch_within_s
        ):
            await process(list(events))
            if table is not None:  # its changes durable before its input is acknowledged
                await table.changes_written()

    app.agent(source, name=name)(take_batches)
