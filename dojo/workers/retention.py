"""What an environment worker keeps after the broker acknowledged it: the embedded broker
holds everything in memory, so an acknowledgement is not yet safety.

Each published episode's messages stay here until the episode is *settled*
downstream — in the store (``dojo up`` asks for that much; what is stored, the
store gives back, see :mod:`dojo.workers.recovery`), or also scored — which the
worker asks the store about every few seconds. When the
broker has lost its data (``dojo up`` restarted the embedded broker and said so
with SIGUSR1), every episode still held is published again, whole and in order;
its events keep their ids, so the idempotent sinks store nothing twice. An
episode whose sends failed is held too, and sent again until the broker takes it.

With an external Kafka (replicated, durable) none of this is needed: retention
is off unless ``DOJO_ENV_RETAIN_UNTIL`` asks for it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from dojo.store import StoreReader, StoreUnavailable
from dojo.store.stats import ALL_EVENTS_STORED

log = logging.getLogger(__name__)

#: how far downstream an episode must have got before its worker forgets it
RetainUntil = Literal["off", "stored", "scored"]

#: one message as sent: topic, key, value
Message = tuple[str, bytes | None, bytes]

# Every event, not only the EpisodeCompleted: the broker may have lost an episode's first
# events with its memory while its last ones, retried by the producer, reached the broker
# that replaced it, and been stored before this worker was told (SIGUSR1) to publish again
_STORED = (
    "SELECT e.episode_id FROM episodes e "
    "WHERE e.completed_event_id IS NOT NULL AND list_contains(?::VARCHAR[], e.episode_id) "
    f"AND {ALL_EVENTS_STORED}"
)
_SCORED = " AND EXISTS (SELECT 1 FROM trajectories t WHERE t.episode_id = e.episode_id)"
SETTLED_SQL: dict[str, str] = {
    "stored": _STORED,
    "scored": _STORED + _SCORED,
}


@dataclass
class Held:
    messages: list[Message]
    #: must be (re)sent: its sends failed, or the broker lost what it had acknowledged
    unsent: bool = False


@dataclass
class Retention:
    until: RetainUntil
    open_reader: Callable[[], StoreReader]
    held: OrderedDict[str, Held] = field(default_factory=OrderedDict)
    republished: int = 0

    @property
    def enabled(self) -> bool:
        return self.until != "off"

    def keep(self, episode_id: str, messages: list[Message], *, unsent: bool = False) -> None:
        if self.enabled or unsent:
            self.held[episode_id] = Held(messages, unsent)

    def broker_lost_everything(self) -> None:
        """Every held episode must be published again (called on SIGUSR1 from ``dojo up``)."""
        for held in self.held.values():
            held.unsent = True

    def unsent(self) -> list[tuple[str, Held]]:
        return [(e, h) for e, h in self.held.items() if h.unsent]

    def settle(self) -> int:
        """Forget the episodes the store shows settled; returns how many are still held.

        An unreachable store (the sink restarting) settles nothing this time.
        """
        candidates = [e for e, h in self.held.items() if not h.unsent]
        if not self.enabled:
            for episode_id in candidates:
                del self.held[episode_id]
            return len(self.held)
        if not candidates:
            return len(self.held)
        try:
            reader = self.open_reader()
        except StoreUnavailable:
            return len(self.held)
        try:
            rows = reader.query(SETTLED_SQL[self.until], [candidates]).column(0).to_pylist()
        except (StoreUnavailable, duckdb.Error) as exc:
            log.info("cannot settle held episodes now: %s", exc)
            return len(self.held)
        finally:
            reader.close()
        for episode_id in rows:
            self.held.pop(episode_id, None)
        return len(self.held)
