"""Bytes on the wire ⇄ event models, with old schema versions upgraded on the way in.

The fast path validates current-version JSON in one pass through a
discriminated union. Anything else (an older ``schema_version``) goes through
the upcasters registered for that type, one version step at a time, so an event
written years ago still decodes into today's model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from dojo.events.models import (
    DeadLetter,
    DecisionMade,
    DecisionRewarded,
    DriftAlert,
    DriftWindow,
    EpisodeCompleted,
    EpisodeStarted,
    EvalReport,
    JudgeFailed,
    JudgeVerdict,
    LearnerUpdated,
    PhaseCompleted,
    PhaseStarted,
    PolicyVersionPublished,
    StageChanged,
    TrajectoryScored,
)

AnyEvent = Annotated[
    EpisodeStarted
    | PhaseStarted
    | DecisionMade
    | PhaseCompleted
    | EpisodeCompleted
    | DecisionRewarded
    | JudgeVerdict
    | JudgeFailed
    | TrajectoryScored
    | DriftWindow
    | DriftAlert
    | PolicyVersionPublished
    | LearnerUpdated
    | EvalReport
    | StageChanged
    | DeadLetter,
    Field(discriminator="type"),
]

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        EpisodeStarted,
        PhaseStarted,
        DecisionMade,
        PhaseCompleted,
        EpisodeCompleted,
        DecisionRewarded,
        JudgeVerdict,
        JudgeFailed,
        TrajectoryScored,
        DriftWindow,
        DriftAlert,
        PolicyVersionPublished,
        LearnerUpdated,
        EvalReport,
        StageChanged,
        DeadLetter,
    )
}

_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

#: (type, from_version) → function turning a payload of that version into the next one.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def _same_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A version step that only added fields with defaults meaning what the older
    version meant (for DecisionMade 1 → 2: a whole prompt, no recorded finish)."""
    return data


UPCASTERS[("DecisionMade", 1)] = _same_fields
UPCASTERS[("TrajectoryScored", 1)] = _same_fields


class DecodeError(ValueError):
    """A message that is not a valid Dojo event; ``reason`` says why, briefly."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def current_version(event_type: str) -> int:
    cls = EVENT_TYPES[event_type]
    return int(cls.model_fields["schema_version"].default)


def encode(event: AnyEvent) -> bytes:
    return event.model_dump_json().encode()


def decode(raw: bytes | str) -> AnyEvent:
    """Decode one message, upgrading older schema versions. Raises :class:`DecodeError`."""
    return decode_upcast(raw)[0]


def decode_upcast(raw: bytes | str) -> tuple[AnyEvent, bool]:
    """Like :func:`decode`, and whether the message was in an older version (upcast)."""
    try:
        return _ADAPTER.validate_json(raw), False
    except ValidationError as fast_error:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"not JSON: {exc}", "NotJSON") from None
        if not isinstance(data, dict):
            raise DecodeError(
                f"expected a JSON object, got {type(data).__name__}", "NotAnObject"
            ) from None
        upgraded = _upcast(data)
        if upgraded is None:
            raise DecodeError(_summarise(fast_error), "ValidationError") from None
        try:
            return _ADAPTER.validate_python(upgraded), True
        except ValidationError as exc:
            raise DecodeError(_summarise(exc), "ValidationError") from None


def _upcast(data: dict[str, Any]) -> dict[str, Any] | None:
    """Bring an older payload to the current version; ``None`` if nothing applies."""
    event_type, version = data.get("type"), data.get("schema_version")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        return None
    if not isinstance(version, int) or version >= current_version(event_type):
        return None
    while version < current_version(event_type):
        step = UPCASTERS.get((event_type, version))
        if step is None:
            return None
        data = step(dict(data))
        version += 1
        data["schema_version"] = version
    return data


def _summarise(error: ValidationError, limit: int = 3) -> str:
    """A short, single-line reason (the full pydantic report can be kilobytes)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)
