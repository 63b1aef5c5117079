"""Turning a message nobody could process into a :class:`DeadLetter`."""

from __future__ import annotations

import hashlib

from dojo.events.envelope import Stamper
from dojo.events.models import DeadLetter

MAX_PAYLOAD_CHARS = 64 * 1024


def dead_letter(
    stamper: Stamper,
    *,
    raw: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    consumer: str,
    reason: str,
    error_type: str,
) -> DeadLetter:
    """A dead letter for the message at ``topic/partition/offset`` as seen by ``consumer``.

    Its id derives from that position and the consumer, so a redelivered bad
    message is recorded once per consumer, not once per delivery.
    """
    data = raw or b""
    text = data.decode("utf-8", errors="replace")
    return stamper.make(
        DeadLetter,
        (topic, partition, offset, consumer),
        topic=topic,
        partition=partition,
        offset=offset,
        consumer=consumer,
        reason=reason[:2000],
        error_type=error_type,
        payload=text[:MAX_PAYLOAD_CHARS],
        payload_sha256=hashlib.sha256(data).hexdigest(),
        payload_truncated=len(text) > MAX_PAYLOAD_CHARS,
    )
