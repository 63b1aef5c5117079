"""Team metrics from training, read from the store, for transfer scores.

The team side of a transfer score is the same behaviour measured in training:
the training episodes (seeds below the held-out base) that the evaluated
policy version played, each turned into the solo metrics by the same
functions the solo side uses (:func:`dojo.eval.metrics.team_measurements`),
from the quantities one episode carries: its behaviour metrics, its outcome
signals and — for the types that need them (E-1.3's delivery for intent match,
E-2.3's replan for adaptation) — its decisions' signals in step order. A
training episode is one part of a solo task; see :mod:`dojo.eval.metrics` for
which terms a part cannot carry and how they are kept neutral.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.eval.metrics import (
    PRIMARY_NAMES,
    Metrics,
    decision_signal_types,
    mean_of,
    team_measurements,
)
from dojo.store.reader import StoreReader

_TEAM_SQL = """
SELECT episode_id, episode_type, behaviour_metrics, outcome
FROM episodes
WHERE completed_at IS NOT NULL AND policy_version = ? AND seed < ?
ORDER BY completed_at DESC
LIMIT ?
"""
_SIGNALS_SQL = """
SELECT episode_id, signals FROM decisions
WHERE episode_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY episode_id, step
"""


def _as_dict(value: Any) -> Mapping[str, float]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): float(v) for k, v in dict(value).items() if v is not None}


def team_metrics(reader: StoreReader, policy_version: str, *, window: int = 500) -> Metrics:
    """The primary metrics over the last ``window`` training episodes of ``policy_version``.

    A metric no such episode measured is ``None``.
    """
    rows = reader.query(_TEAM_SQL, [policy_version, HELD_OUT_SEED_BASE, window]).to_pylist()
    wanted = [r["episode_id"] for r in rows if r["episode_type"] in decision_signal_types()]
    decisions: dict[str, list[Mapping[str, float]]] = {}
    if wanted:
        for row in reader.query(_SIGNALS_SQL, [wanted]).to_pylist():
            decisions.setdefault(row["episode_id"], []).append(_as_dict(row["signals"]))
    values: dict[str, list[float | None]] = {name: [] for name in PRIMARY_NAMES}
    for row in rows:
        measured = team_measurements(
            str(row["episode_type"]),
            _as_dict(row["behaviour_metrics"]),
            _as_dict(row["outcome"]),
            decisions.get(row["episode_id"], []),
        )
        for name, value in measured.items():
            values[name].append(value)
    return {name: mean_of(values[name]) for name in PRIMARY_NAMES}
