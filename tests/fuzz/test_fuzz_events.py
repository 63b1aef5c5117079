"""Every event decoder, fuzzed: 10,000 wire messages each, zero crashes, a reason for every
rejection.

Two decoders read events off the wire: :func:`dojo.events.decode` (used by every
consumer, the scoring agents included) and the sink's batch path
(:func:`streams.sink.decode_batch`), which turns what does not decode into a
DeadLetter and stores it. Checked: an accepted message re-encodes to an event
that decodes to itself; a rejected one raises :class:`DecodeError` with a kind
and a short reason — nothing else ever escapes — and its dead letter survives
the wire itself; through the sink, every input lands in a real DuckDB store as
an event or a dead letter with its reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from fuzz_strategies import FUZZ, NON_FINITE_CASES, STORE_EDGE_CASES, wire_messages
from hypothesis import example, given

from dojo.events import DecodeError, Stamper, decode, encode
from dojo.events.codec import decode_upcast
from dojo.events.deadletter import dead_letter
from dojo.store import StoreWriter
from streams.sink import decode_batch, store_batch

KINDS = {"NotJSON", "NotAnObject", "ValidationError"}
STAMPER = Stamper("fuzz")


def test_decode_accepts_or_gives_a_reason() -> None:
    seen = {"accepted": 0, "rejected": 0}

    @FUZZ
    @given(wire_messages)
    @example(NON_FINITE_CASES[0])
    @example(NON_FINITE_CASES[1])
    @example(NON_FINITE_CASES[2])
    @example(NON_FINITE_CASES[3])
    def one(raw: bytes) -> None:
        try:
            event, _ = decode_upcast(raw)
        except DecodeError as exc:
            seen["rejected"] += 1
            assert exc.error_type in KINDS
            assert exc.reason.strip() and len(exc.reason) < 2000
            letter = dead_letter(
                STAMPER, raw=raw, topic="dojo.episodes", partition=0, offset=1,
                consumer="fuzz", reason=exc.reason, error_type=exc.error_type,
            )  # fmt: skip
            assert decode(encode(letter)) == letter  # the dead letter itself survives the wire
            return
        seen["accepted"] += 1
        # what a consumer accepted, it can publish again and read back unchanged
        assert decode(encode(event)) == event

    one()
    for raw in NON_FINITE_CASES:
        with pytest.raises(DecodeError, match=r"finite number|valid number"):
            decode(raw)
    # the damage must not be so heavy that nothing decodes, nor so light that nothing fails
    assert seen["accepted"] > 300 and seen["rejected"] > 5000, seen


@dataclass
class _Record:
    """A consumed message as the sink reads it (aiokafka's ConsumerRecord)."""

    value: object
    topic: str
    partition: int
    offset: int


def test_sink_decode_path_stores_every_message_or_its_dead_letter(tmp_path: Path) -> None:
    offsets = itertools.count()
    inputs: list[_Record] = []

    @FUZZ
    @given(wire_messages)
    @example(STORE_EDGE_CASES[0])
    @example(STORE_EDGE_CASES[1])
    @example(STORE_EDGE_CASES[2])
    def one(raw: bytes) -> None:
        event = _Record(raw, "fuzz.episodes", 0, next(offsets))
        good, dead = decode_batch([event], STAMPER)
        assert len(good) + len(dead) == 1
        for item in dead:
            assert item.event.type == "DeadLetter"
            assert item.event.reason.strip() and item.event.error_type in KINDS
            assert decode(item.raw) == item.event
        inputs.append(event)

    one()
    assert len(inputs) >= 10_000
    # then through the sink's own write path, in batches as the sink writes them
    writer = StoreWriter(tmp_path / "fuzz.duckdb")
    try:
        letters = []
        for start in range(0, len(inputs), 500):
            letters += store_batch(writer, inputs[start : start + 500], STAMPER)
        stored_ids = {
            str(r["event_id"]) for r in writer.query("SELECT event_id FROM events").to_pylist()
        }
        dead_rows = writer.query(
            'SELECT event_id, "offset", reason, error_type FROM dead_letters'
        ).to_pylist()
    finally:
        writer.close()
    # the sink's own dead letters (an input may itself be a valid DeadLetter event)
    mine = {str(item.event.event_id) for item in letters}
    dead_at = {r["offset"]: r for r in dead_rows if str(r["event_id"]) in mine}
    assert len(dead_at) == len(mine) == len(letters)
    assert all(r["reason"].strip() for r in dead_at.values())
    refused = [r for r in dead_at.values() if r["error_type"] == "StoreRefused"]
    assert refused and all(r["reason"].startswith("the store refused it") for r in refused)
    for event in inputs:
        offset = event.offset
        try:
            decoded = decode(event.value)  # type: ignore[arg-type]
        except DecodeError:
            assert offset in dead_at, f"undecodable message at {offset} left no dead letter"
            continue
        # a decoded event is stored, or refused by the store with a reason
        assert str(decoded.event_id) in stored_ids or offset in dead_at, offset
