"""The envelope every Dojo event shares, and how event ids are made.

Event ids are UUIDv5 values derived from what the event *is* (an episode's n-th
event, a decision's reward under one reward version …) rather than random.
Re-sending after a crash therefore re-creates the same id, which is what lets
every sink be idempotent on ``event_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

#: Namespace for Dojo's UUIDv5 event ids (fixed forever: ids must stay stable).
DOJO_NAMESPACE = uuid.UUID("6b8f6f52-3a53-5d2e-9a39-6a0f8d1d0d0a")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def derive_event_id(*parts: object) -> uuid.UUID:
    """A stable id for the event identified by ``parts`` (joined with ``/``)."""
    return uuid.uuid5(DOJO_NAMESPACE, "/".join(str(p) for p in parts))


class Event(BaseModel):
    """Fields every event carries. Subclasses add a ``type`` literal and a payload.

    ``KEY_FIELD`` names the payload field used as the Kafka message key, so all
    events of one episode land on one partition, in order.
    """

    # allow_inf_nan=False: NaN and ±inf are not JSON; pydantic would read them (and "nan"
    # strings) and write them back as null, and a NaN reward would poison training
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    KEY_FIELD: ClassVar[str | None] = None
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID
    schema_version: int
    produced_at: AwareDatetime
    source: str = Field(min_length=1, max_length=200)

    @property
    def key(self) -> str | None:
        """The partition key of this event, or ``None`` for unkeyed topics."""
        if self.KEY_FIELD is None:
            return None
        value = getattr(self, self.KEY_FIELD)
        return None if value is None else str(value)

    @property
    def event_type(self) -> str:
        return str(getattr(self, "type", type(self).__name__))


E = TypeVar("E", bound=Event)


class Stamper:
    """Fills in the envelope for events a component produces.

    The clock is injectable so that one seed can give a byte-identical stream.
    """

    def __init__(self, source: str, clock: Clock = utc_now) -> None:
        self.source = source
        self.clock = clock

    def make(self, cls: type[E], id_parts: tuple[object, ...], **payload: object) -> E:
        """Build ``cls`` with an id derived from its type name and ``id_parts``."""
        return cls(
            event_id=derive_event_id(cls.__name__, *id_parts),
            produced_at=self.clock(),
            source=self.source,
            **payload,
        )
