"""Team metrics from training, read from the store, for transfer scores.

The team side of a transfer score is the same behaviour measured in training:
the training episodes (seeds below the held-out base) that the evaluated
policy version played, their behaviour metrics turned into the solo metrics by
the same formulas (:func:`dojo.eval.metrics.team_measurements`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.eval.metrics import PRIMARY_NAMES, Metrics, mean_of, team_measurements
from dojo.store.reader import StoreReader

_TEAM_SQL = """
SELECT episode_type, behaviour_metrics, outcome
FROM episodes
WHERE completed_at IS NOT NULL AND policy_version = ? AND seed < ?
ORDER BY completed_at DESC
LIMIT ?
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
    values: dict[str, list[float | None]] = {name: [] for name in PRIMARY_NAMES}
    for row in rows:
        measured = team_measurements(
            str(row["episode_type"]), _as_dict(row["behaviour_metrics"]), _as_dict(row["outcome"])
        )
        for name, value in measured.items():
            values[name].append(value)
    return {name: mean_of(values[name]) for name in PRIMARY_NAMES}
