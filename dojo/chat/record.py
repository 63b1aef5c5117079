"""A chat session as events: recorded like any episode, tagged as a human session.

Each phase is one episode (its simulator type: E-1.1, E-1.5, E-1.2) whose events an
:class:`~dojo.workers.rollout.EpisodeRun` builds exactly as an environment worker
does — EpisodeStarted, PhaseStarted, DecisionMade with the token ids, log-probs and
policy version, PhaseCompleted, EpisodeCompleted — with the developer in the
simulator's place. The developer's replies and what research read are the
decisions' ``consequences`` (kinds ``developer_answer``, ``source_read`` …), as the
simulated team's are. Tagged as human: every event's ``source`` is ``dojo-chat``,
episode ids start ``human-``, EpisodeStarted's ``scenario`` starts ``human session``.

The developer's ratings become DecisionRewarded events of their own reward version,
:data:`HUMAN_REWARD_VERSION`, components ``human/session`` and ``human/move``
(1-5 mapped to 0-1), so replay and the learner can read human feedback beside the
reward function's rows without mixing the two.

Events go to the store (written as the sink writes them: one batch, INSERT OR
IGNORE on event_id) and, when a broker is configured, onto their Kafka topics.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from dojo.chat.notes import SessionNotes
from dojo.chat.phases import ChatPhase
from dojo.config import Settings
from dojo.events import AnyEvent, DecisionRewarded, Stamper, encode
from dojo.store import Received, StoreWriter
from dojo.topics import TOPIC_OF_EVENT, Topic
from dojo.workers.rollout import EpisodeRun, stamp_phase

SOURCE = "dojo-chat"
HUMAN_REWARD_VERSION = "human-1"
SESSION_COMPONENT = "human/session"
MOVE_COMPONENT = "human/move"
#: what a row written straight into the store "came from": no topic, no offset
DIRECT_TOPIC = "(chat)"
KAFKA_TIMEOUT_S = 60.0


class ChatRun(EpisodeRun):
    """One phase of a session as an episode; the developer answers, not the simulator."""

    def __init__(
        self,
        phase: ChatPhase,
        episode_id: str,
        policy_version: str,
        stamper: Stamper,
        *,
        scenario: str,
    ) -> None:
        super().__init__(phase.spec, episode_id, policy_version, stamper, scenario=scenario)
        self._episode = phase
        self.phase = phase

    def interrupt(self) -> list[AnyEvent]:
        """The session stopped while a move was being chosen: the phase and the episode
        end here (truncated). Nothing when the episode is over already."""
        if self.done or self.observation is None:
            return []
        self.phase.truncated = True
        closing = self.phase.closing_event()
        events: list[AnyEvent] = [
            stamp_phase(self._stamper, self.episode_id, self._next_seq(), closing)
        ]
        self.observation = None
        events.append(self._completed())
        return events


def scale(rating: int) -> float:
    """A 1-5 rating as a reward component in [0, 1]."""
    return (rating - 1) / 4


def rating_events(notes: SessionNotes, stamper: Stamper) -> list[DecisionRewarded]:
    """One DecisionRewarded per rated decision: the session's rating on every decision,
    a move's own rating beside it; the scalar is the move's rating, else the session's."""
    events = []
    for ref in notes.decisions:
        vector: dict[str, float] = {}
        if notes.rating is not None:
            vector[SESSION_COMPONENT] = scale(notes.rating)
        if ref.number in notes.move_ratings:
            vector[MOVE_COMPONENT] = scale(notes.move_ratings[ref.number])
        if not vector:
            continue
        scalar = vector.get(MOVE_COMPONENT, vector.get(SESSION_COMPONENT, 0.0))
        events.append(
            stamper.make(
                DecisionRewarded,
                (ref.decision_id, HUMAN_REWARD_VERSION, "-"),
                episode_id=ref.episode_id,
                decision_id=ref.decision_id,
                reward_version=HUMAN_REWARD_VERSION,
                judge_version=None,
                episode_type=ref.episode_type,
                stage=ref.stage,
                vector=vector,
                scalar=scalar,
                components_present=sorted(vector),
            )
        )
    return events


@dataclass
class Delivery:
    """Where a session's events went."""

    stored: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)


def write_events(path: Path, events: list[AnyEvent]) -> int:
    """``events`` into the store at ``path`` as the sink writes them; returns rows written."""
    writer = StoreWriter(path)
    try:
        counts = writer.write([Received(e, encode(e), DIRECT_TOPIC, -1, -1) for e in events])
    finally:
        writer.close()
    return sum(counts.values())


async def send_events(settings: Settings, events: list[AnyEvent]) -> int:
    """``events`` onto their topics, keyed as every producer keys them; returns how many."""
    from dojo.replay.publish import Publisher

    by_topic: dict[Topic, list[tuple[str, str | bytes]]] = {}
    for e in events:
        by_topic.setdefault(TOPIC_OF_EVENT[e.event_type], []).append((e.key or "", encode(e)))
    async with Publisher(settings) as publisher:
        for topic, messages in by_topic.items():
            await publisher.send(topic, messages)
    return sum(len(m) for m in by_topic.values())


def deliver(events: list[AnyEvent], settings: Settings, store: Path | None) -> Delivery:
    """To the store when one is named, onto Kafka when a broker is configured."""
    result = Delivery()
    if not events:
        return result
    if store is not None:
        try:
            write_events(store, events)
            result.stored = len(events)
        except Exception as exc:  # the store in use by a live sink, a full disk ...
            result.problems.append(f"not stored in {store}: {exc}")
    if settings.kafka.bootstrap is not None:
        try:
            result.sent = asyncio.run(
                asyncio.wait_for(send_events(settings, events), KAFKA_TIMEOUT_S)
            )
        except Exception as exc:
            result.problems.append(
                f"not sent to Kafka at {settings.kafka.bootstrap}: {exc or type(exc).__name__}"
            )
    return result
