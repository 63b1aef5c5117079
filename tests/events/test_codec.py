"""Decoding: every sample round-trips; bad input fails with a short reason and a kind."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from dojo.events import DecodeError, PhaseStarted, Stamper, decode, derive_event_id, encode
from dojo.events.deadletter import MAX_PAYLOAD_CHARS, dead_letter
from dojo.events.samples import sample_events


def _sample(event_type: str) -> dict[str, object]:
    event = next(e for e in sample_events() if e.event_type == event_type)
    return dict(json.loads(encode(event)))


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type)
def test_round_trip(event: object) -> None:
    assert decode(encode(event)) == event  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (b"\x00\xffnot json", "NotJSON", "not JSON"),
        (b"", "NotJSON", "not JSON"),
        (b"[1, 2]", "NotAnObject", "got list"),
        (b'{"type": "NoSuchEvent"}', "ValidationError", "does not match any of the expected tags"),
    ],
)
def test_garbage_gets_a_reason(raw: bytes, kind: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    assert caught.value.error_type == kind
    assert reason in caught.value.reason


def test_a_validation_error_names_the_fields() -> None:
    data = _sample("DecisionMade")
    data["step"] = -1
    del data["policy_version"]
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(data))
    reason = caught.value.reason
    assert caught.value.error_type == "ValidationError"
    assert "DecisionMade.step" in reason and "DecisionMade.policy_version" in reason
    assert "\n" not in reason and len(reason) < 500


def test_misaligned_token_record_is_rejected() -> None:
    data = _sample("DecisionMade")
    data["logprobs"] = list(data["logprobs"])[:-1]  # type: ignore[call-overload]
    with pytest.raises(DecodeError, match="logprobs and completion_token_ids"):
        decode(json.dumps(data))


def test_unknown_fields_are_rejected_not_dropped() -> None:
    data = _sample("PhaseStarted")
    data["surprise"] = 1
    with pytest.raises(DecodeError, match="surprise"):
        decode(json.dumps(data))


def test_event_ids_derive_from_what_the_event_is() -> None:
    stamper = Stamper("test")
    first = stamper.make(PhaseStarted, ("ep-1", 3), episode_id="ep-1", phase="x", index=0)
    again = stamper.make(PhaseStarted, ("ep-1", 3), episode_id="ep-1", phase="x", index=0)
    other = stamper.make(PhaseStarted, ("ep-1", 4), episode_id="ep-1", phase="x", index=0)
    assert first.event_id == again.event_id == derive_event_id("PhaseStarted", "ep-1", 3)
    assert other.event_id != first.event_id
    assert first.key == "ep-1"
    assert isinstance(first.event_id, uuid.UUID)


def test_dead_letter_keeps_the_evidence() -> None:
    raw = b"\xff" + b"x" * (MAX_PAYLOAD_CHARS + 10)
    letter = dead_letter(
        Stamper("sink"),
        raw=raw,
        topic="dojo.episodes",
        partition=2,
        offset=41,
        consumer="sink",
        reason="not JSON",
        error_type="NotJSON",
    )
    assert letter.payload_truncated and len(letter.payload) == MAX_PAYLOAD_CHARS
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    # the same message seen again by the same consumer is the same dead letter
    again = dead_letter(
        Stamper("sink"),
        raw=raw,
        topic="dojo.episodes",
        partition=2,
        offset=41,
        consumer="sink",
        reason="not JSON",
        error_type="NotJSON",
    )
    assert again.event_id == letter.event_id
    assert decode(encode(letter)) == letter
