"""Writing events into a DuckDB store the way the sink does, for tests that read it back."""

from __future__ import annotations

from pathlib import Path

from dojo.events import AnyEvent, encode
from dojo.store import Received, StoreWriter
from dojo.topics import TOPIC_OF_EVENT, topic_name


def write_store(path: Path, events: list[AnyEvent]) -> Path:
    """``events`` stored at ``path``, each from its own topic, in order; returns ``path``."""
    writer = StoreWriter(path)
    try:
        writer.write(
            [
                Received(e, encode(e), topic_name(TOPIC_OF_EVENT[e.type]), 0, i)
                for i, e in enumerate(events)
            ]
        )
    finally:
        writer.close()
    return path
