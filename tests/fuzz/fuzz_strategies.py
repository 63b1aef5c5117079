"""Hypothesis strategies shared by the fuzz tests: wire bytes that look like Dojo events.

Most inputs start from a real event (the golden samples of every type) and are
damaged a little — a field replaced, removed or added, the type swapped, the
bytes cut short — because a decoder's interesting failures sit next to valid
input, not in uniform noise. The rest is noise: arbitrary bytes, text and JSON.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dojo.events import EVENT_TYPES, encode
from dojo.events.samples import sample_events

#: every fuzz test: 10,000 inputs, reproducible, no time limit per input
FUZZ = settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SAMPLES: list[dict[str, Any]] = [json.loads(encode(e)) for e in sample_events()]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "NaN", "1e999", "2026-13-45T99:00:00Z", "\x00", "\ud7ff"]),
    st.sampled_from(sorted(EVENT_TYPES)),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)


def _slots(data: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside ``data``, depth first."""
    if isinstance(data, dict):
        for key, value in data.items():
            out.append((data, key))
            _slots(value, out)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.append((data, index))
            _slots(value, out)
    return out


@st.composite
def damaged_event(draw: st.DrawFn) -> dict[str, Any]:
    """A sample event with one to three fields replaced, removed or added."""
    data = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(data, [])
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "type", "number"]))
        numbers = [(c, k) for c, k in slots if type(c[k]) in (int, float)]
        if action == "number" and numbers:
            # a number the producer never meant: non-finite, huge, or of the other kind
            container, key = numbers[draw(st.integers(0, len(numbers) - 1))]
            container[key] = draw(
                st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -(2**63), 2**64, 0.5, -1])
            )
        elif action == "replace":
            container[key] = draw(json_values)
        elif action == "delete":
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[draw(st.text(max_size=12))] = draw(json_values)
        elif action == "add":
            container.append(draw(json_values))
        else:
            data["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)))
    return data


@st.composite
def odd_event(draw: st.DrawFn) -> dict[str, Any]:
    """A sample event with one change a lenient validator may well let through: a number
    at the edge of its type, a field left out, a value in another but coercible form."""
    data = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    slots = [(c, k) for c, k in _slots(data, []) if k not in ("type", "event_id")]
    container, key = slots[draw(st.integers(0, len(slots) - 1))]
    value = container[key]
    change = draw(st.sampled_from(["edge", "drop", "coerce"]))
    if change == "drop" and isinstance(container, dict):
        del container[key]
    elif type(value) in (int, float):
        container[key] = draw(
            st.sampled_from([2**31, 2**63, 2**64, -(2**31) - 1, 1e300, 7, str(value)])
        )
    elif isinstance(value, str):
        container[key] = draw(st.sampled_from([8, 1.5e9, value.upper(), " " + value, ""]))
    return data


def _dump(data: Any) -> bytes:
    # allow_nan: the wire may well carry NaN/Infinity literals
    return json.dumps(data, allow_nan=True).encode("utf-8", errors="surrogatepass")


valid_bytes = st.sampled_from(SAMPLES).map(_dump)
wire_messages = st.one_of(
    damaged_event().map(_dump),
    damaged_event().map(_dump),
    damaged_event().map(_dump),
    st.tuples(valid_bytes, st.integers(0, 2000)).map(lambda t: t[0][: t[1]]),  # cut short
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", errors="surrogatepass")),
    json_values.map(_dump),
    odd_event().map(_dump),
    odd_event().map(_dump),
    valid_bytes,
)


def _edit(event_type: str, **changes: Any) -> bytes:
    data = copy.deepcopy(next(s for s in SAMPLES if s["type"] == event_type))
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return _dump(data)


#: events that decode but that the store's projection cannot take as sent: a step beyond
#: INTEGER (refused, dead letter), a timestamp given as a number and a defaulted field
#: left out (both stored in their canonical encoding)
STORE_EDGE_CASES: list[bytes] = [
    _edit("DecisionMade", step=2**40),
    _edit("DriftWindow", window_start=8),
    _edit("DecisionMade", generation_ms=None),
]

#: non-finite numbers, which JSON does not have and a reward must never be
NON_FINITE_CASES: list[bytes] = [
    _edit("DecisionRewarded", scalar=math.nan),  # a NaN literal
    _edit("DecisionRewarded", scalar="-Infinity"),  # a string pydantic would coerce
    _edit("DecisionMade", logprobs=["NAN", 0.0, -1.0]),
    # a number literal beyond float: it parses as infinity
    _edit("TrajectoryScored", episode_reward=12345.5).replace(b"12345.5", b"1e999"),
]
