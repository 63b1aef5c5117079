"""From events to rows of the store's tables — in SQL, inside DuckDB.

A batch reaches DuckDB as one Arrow table of raw JSON payloads with their topic
positions. Every event becomes a row of ``events`` (its JSON exactly as
received) and, by type, a row of a typed table, extracted by the statements
below with DuckDB's vectorised JSON functions. Python's share per event is
decoding (validation) only, which keeps the sink cheap; and because the
projection is a function of the stored raw events alone, any typed table can be
rebuilt from ``events`` at any time.

``current`` is the payload brought to the current schema version: it equals
``payload`` unless the event arrived in an older version and was upcast. ``type``
comes from decoding, so the typed statements pick their rows without parsing
every payload again (JSON parsing is most of the writer's cost): a batch parses
each payload once for ``events`` and once more for its typed table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dojo.events import AnyEvent

BATCH_SCHEMA = pa.schema(
    [
        ("payload", pa.string()),
        ("current", pa.string()),
        ("type", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
    ]
)


@dataclass(frozen=True)
class Received:
    """An event as it came off a topic: decoded, with its raw bytes and position."""

    event: AnyEvent
    raw: bytes
    topic: str
    partition: int
    offset: int
    upcast: bool = False


Structure = dict[str, Any]


def _structure(fields: Structure) -> str:
    """A ``json_transform`` structure: field → DuckDB type, nested as dicts and lists."""
    return json.dumps(fields, separators=(",", ":"))


def _select(event_types: tuple[str, ...], fields: Structure) -> str:
    types = ", ".join(f"'{t}'" for t in event_types)
    return (
        f"SELECT json_transform(current, '{_structure(fields)}') AS j, * FROM batch "
        f"WHERE type IN ({types})"
    )


_ENVELOPE = {"event_id": "UUID", "produced_at": "VARCHAR", "source": "VARCHAR"}

EVENTS_SQL = f"""
INSERT OR IGNORE INTO events BY NAME
SELECT j.event_id, j.type, j.schema_version,
       j.produced_at::TIMESTAMPTZ AS produced_at, j.source, j.episode_id,
       topic, "partition", "offset", now() AS stored_at, payload::JSON AS payload
FROM (SELECT json_transform(payload, '{_structure({**_ENVELOPE, "type": "VARCHAR", "schema_version": "INTEGER", "episode_id": "VARCHAR"})}') AS j, topic, "partition", "offset", payload
      FROM batch)
"""

#: table → statement; each reads the registered Arrow view ``batch``.
TYPED_SQL: dict[str, str] = {
    "decisions": f"""
INSERT OR IGNORE INTO decisions BY NAME
SELECT j.event_id, j.decision_id, j.episode_id, j.step, j.phase, j.policy_version,
       j.produced_at::TIMESTAMPTZ AS produced_at, j.prompt_text, j.prompt_token_ids,
       j.completion_text, j.completion_token_ids, j.logprobs, j.allowed_token_ids,
       j.move.name AS move_name, coalesce(j.move.args, '{{}}') AS move_args,
       coalesce(j.move.text, '') AS move_text, coalesce(j.move.valid, true) AS move_valid,
       j.move.error AS move_error, coalesce(j.consequences, '[]') AS consequences,
       coalesce(j.signals, '{{}}') AS signals, j.transition, j.transition_correct,
       coalesce(j.generation_ms, 0.0) AS generation_ms,
       coalesce(j.context_offset, 0) AS context_offset,
       coalesce(j.context_restarted, false) AS context_restarted, j.finish_reason
FROM ({
        _select(
            ("DecisionMade",),
            {
                **_ENVELOPE,
                "decision_id": "VARCHAR",
                "episode_id": "VARCHAR",
                "step": "INTEGER",
                "phase": "VARCHAR",
                "policy_version": "VARCHAR",
                "prompt_text": "VARCHAR",
                "prompt_token_ids": ["INTEGER"],
                "completion_text": "VARCHAR",
                "completion_token_ids": ["INTEGER"],
                "logprobs": ["DOUBLE"],
                "allowed_token_ids": "JSON",
                "move": {
                    "name": "VARCHAR",
                    "args": "JSON",
                    "text": "VARCHAR",
                    "valid": "BOOLEAN",
                    "error": "VARCHAR",
                },
                "consequences": "JSON",
                "signals": "JSON",
                "transition": "VARCHAR",
                "transition_correct": "BOOLEAN",
                "generation_ms": "DOUBLE",
                "context_offset": "INTEGER",
                "context_restarted": "BOOLEAN",
                "finish_reason": "VARCHAR",
            },
        )
    })
""",
    "rewards": f"""
INSERT OR IGNORE INTO rewards BY NAME
SELECT j.event_id, j.decision_id, j.episode_id, j.reward_version, j.judge_version,
       j.episode_type, j.stage, j.scalar, j.vector,
       coalesce(j.components_present, []::VARCHAR[]) AS components_present,
       j.produced_at::TIMESTAMPTZ AS produced_at, j.source
FROM ({
        _select(
            ("DecisionRewarded",),
            {
                **_ENVELOPE,
                "decision_id": "VARCHAR",
                "episode_id": "VARCHAR",
                "reward_version": "VARCHAR",
                "judge_version": "VARCHAR",
                "episode_type": "VARCHAR",
                "stage": "INTEGER",
                "scalar": "DOUBLE",
                "vector": "JSON",
                "components_present": ["VARCHAR"],
            },
        )
    })
""",
    "verdicts": f"""
INSERT OR IGNORE INTO verdicts BY NAME
SELECT j.event_id, j.decision_id, j.episode_id,
       CASE j.type WHEN 'JudgeVerdict' THEN 'ok' ELSE 'failed' END AS status,
       j.judge_version, j.judge_model, j.rubric_version, j.content_hash, j.scores, j.rationale,
       j.swapped, j.cached, j.reason, j.error_type, j.attempts,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("JudgeVerdict", "JudgeFailed"),
            {
                **_ENVELOPE,
                "type": "VARCHAR",
                "decision_id": "VARCHAR",
                "episode_id": "VARCHAR",
                "judge_version": "VARCHAR",
                "judge_model": "VARCHAR",
                "rubric_version": "VARCHAR",
                "content_hash": "VARCHAR",
                "scores": "JSON",
                "rationale": "VARCHAR",
                "swapped": "BOOLEAN",
                "cached": "BOOLEAN",
                "reason": "VARCHAR",
                "error_type": "VARCHAR",
                "attempts": "INTEGER",
            },
        )
    })
""",
    "trajectories": f"""
INSERT OR IGNORE INTO trajectories BY NAME
SELECT j.event_id, j.episode_id, j.policy_version, j.reward_version, j.judge_version,
       j.episode_reward, json_array_length(current, '$.decisions') AS decisions,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("TrajectoryScored",),
            {
                **_ENVELOPE,
                "episode_id": "VARCHAR",
                "policy_version": "VARCHAR",
                "reward_version": "VARCHAR",
                "judge_version": "VARCHAR",
                "episode_reward": "DOUBLE",
            },
        )
    })
""",
    "drift_windows": f"""
INSERT OR IGNORE INTO drift_windows BY NAME
SELECT j.event_id, j.behaviour, j.episode_type, j.window_kind,
       j.window_start::TIMESTAMPTZ AS window_start, j.window_end::TIMESTAMPTZ AS window_end,
       j.reward_version, j.judge_version, j.n, j.agreement, j.mean_residual, j.psi, j.ks,
       j.page_hinkley, j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("DriftWindow",),
            {
                **_ENVELOPE,
                "behaviour": "VARCHAR",
                "episode_type": "VARCHAR",
                "window_kind": "VARCHAR",
                "window_start": "VARCHAR",
                "window_end": "VARCHAR",
                "reward_version": "VARCHAR",
                "judge_version": "VARCHAR",
                "n": "INTEGER",
                "agreement": "DOUBLE",
                "mean_residual": "DOUBLE",
                "psi": "DOUBLE",
                "ks": "DOUBLE",
                "page_hinkley": "DOUBLE",
            },
        )
    })
""",
    "drift_alerts": f"""
INSERT OR IGNORE INTO drift_alerts BY NAME
SELECT j.event_id, j.behaviour, j.episode_type, j.window_kind,
       j.window_start::TIMESTAMPTZ AS window_start, j.window_end::TIMESTAMPTZ AS window_end,
       j.reward_version, j.judge_version, j.metric, j.value, j.threshold, j.message,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("DriftAlert",),
            {
                **_ENVELOPE,
                "behaviour": "VARCHAR",
                "episode_type": "VARCHAR",
                "window_kind": "VARCHAR",
                "window_start": "VARCHAR",
                "window_end": "VARCHAR",
                "reward_version": "VARCHAR",
                "judge_version": "VARCHAR",
                "metric": "VARCHAR",
                "value": "DOUBLE",
                "threshold": "DOUBLE",
                "message": "VARCHAR",
            },
        )
    })
""",
    "policy_versions": f"""
INSERT OR IGNORE INTO policy_versions BY NAME
SELECT j.event_id, j.policy_version, j.parent_version, j.base_model, j.adapter_path,
       j.updates, j.trajectories, coalesce(j.metrics, '{{}}') AS metrics,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("PolicyVersionPublished",),
            {
                **_ENVELOPE,
                "policy_version": "VARCHAR",
                "parent_version": "VARCHAR",
                "base_model": "VARCHAR",
                "adapter_path": "VARCHAR",
                "updates": "INTEGER",
                "trajectories": "INTEGER",
                "metrics": "JSON",
            },
        )
    })
""",
    "learner_updates": f"""
INSERT OR IGNORE INTO learner_updates BY NAME
SELECT j.event_id, j.lineage, j.update AS "update", j.base_model, j.policy_version,
       coalesce(j.trajectory_ids, '[]') AS trajectory_ids,
       coalesce(j.dropped_ids, '[]') AS dropped_ids, coalesce(j.skipped_ids, '[]') AS skipped_ids,
       j.decisions, coalesce(j.metrics, '{{}}') AS metrics,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("LearnerUpdated",),
            {
                **_ENVELOPE,
                "lineage": "VARCHAR",
                "update": "INTEGER",
                "base_model": "VARCHAR",
                "policy_version": "VARCHAR",
                "trajectory_ids": "JSON",
                "dropped_ids": "JSON",
                "skipped_ids": "JSON",
                "decisions": "INTEGER",
                "metrics": "JSON",
            },
        )
    })
""",
    "eval_reports": f"""
INSERT OR IGNORE INTO eval_reports BY NAME
SELECT j.event_id, j.report_id, j.cadence, j.policy_version, j.stage, j.tasks, j.metrics,
       coalesce(j.baselines, '{{}}') AS baselines, coalesce(j.transfer, '{{}}') AS transfer,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("EvalReport",),
            {
                **_ENVELOPE,
                "report_id": "VARCHAR",
                "cadence": "VARCHAR",
                "policy_version": "VARCHAR",
                "stage": "INTEGER",
                "tasks": "INTEGER",
                "metrics": "JSON",
                "baselines": "JSON",
                "transfer": "JSON",
            },
        )
    })
""",
    "stage_changes": f"""
INSERT OR IGNORE INTO stage_changes BY NAME
SELECT j.event_id, j.from_stage, j.to_stage, j.episodes, coalesce(j.criteria, '{{}}') AS criteria,
       j.window AS "window", coalesce(j.reason, '') AS reason,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("StageChanged",),
            {
                **_ENVELOPE,
                "from_stage": "INTEGER",
                "to_stage": "INTEGER",
                "episodes": "BIGINT",
                "criteria": "JSON",
                "window": "INTEGER",
                "reason": "VARCHAR",
            },
        )
    })
""",
    "dead_letters": f"""
INSERT OR IGNORE INTO dead_letters BY NAME
SELECT j.event_id, j.topic, j.partition, j.offset, j.consumer, j.reason, j.error_type,
       j.payload, j.payload_sha256, coalesce(j.payload_truncated, false) AS payload_truncated,
       j.produced_at::TIMESTAMPTZ AS produced_at
FROM ({
        _select(
            ("DeadLetter",),
            {
                **_ENVELOPE,
                "topic": "VARCHAR",
                "partition": "INTEGER",
                "offset": "BIGINT",
                "consumer": "VARCHAR",
                "reason": "VARCHAR",
                "error_type": "VARCHAR",
                "payload": "VARCHAR",
                "payload_sha256": "VARCHAR",
                "payload_truncated": "BOOLEAN",
            },
        )
    })
""",
}

#: Episodes are a projection of two events; a start and a completion may share a batch.
EPISODES_SQL = f"""
INSERT INTO episodes BY NAME
SELECT j.episode_id,
       any_value(j.spec.episode_type) AS episode_type,
       any_value(j.spec.stage) AS stage,
       any_value(j.spec.seed) AS seed,
       any_value(j.spec.difficulty) AS difficulty,
       any_value(j.policy_version) FILTER (WHERE j.type = 'EpisodeStarted') AS policy_version,
       any_value(j.source) FILTER (WHERE j.type = 'EpisodeStarted') AS source,
       any_value(j.scenario) AS scenario,
       any_value(j.event_id) FILTER (WHERE j.type = 'EpisodeStarted') AS started_event_id,
       any_value(j.produced_at::TIMESTAMPTZ) FILTER (WHERE j.type = 'EpisodeStarted') AS started_at,
       any_value(j.event_id) FILTER (WHERE j.type = 'EpisodeCompleted') AS completed_event_id,
       any_value(j.produced_at::TIMESTAMPTZ) FILTER (WHERE j.type = 'EpisodeCompleted') AS completed_at,
       any_value(j.outcome.status) AS status,
       any_value(j.outcome.decisions) AS decision_count,
       any_value(j.event_count) AS event_count,
       any_value(j.outcome.signals) AS outcome,
       any_value(j.outcome.behaviour_metrics) AS behaviour_metrics
FROM ({
    _select(
        ("EpisodeStarted", "EpisodeCompleted"),
        {
            **_ENVELOPE,
            "type": "VARCHAR",
            "episode_id": "VARCHAR",
            "policy_version": "VARCHAR",
            "scenario": "VARCHAR",
            "spec": {
                "episode_type": "VARCHAR",
                "stage": "INTEGER",
                "seed": "BIGINT",
                "difficulty": "DOUBLE",
            },
            "event_count": "INTEGER",
            "outcome": {
                "status": "VARCHAR",
                "decisions": "INTEGER",
                "signals": "JSON",
                "behaviour_metrics": "JSON",
            },
        },
    )
})
GROUP BY j.episode_id
ON CONFLICT (episode_id) DO UPDATE SET
""" + ",\n".join(
    f"    {c} = coalesce(excluded.{c}, episodes.{c})"
    for c in (
        "episode_type",
        "stage",
        "seed",
        "difficulty",
        "policy_version",
        "source",
        "scenario",
        "started_event_id",
        "started_at",
        "completed_event_id",
        "completed_at",
        "status",
        "decision_count",
        "event_count",
        "outcome",
        "behaviour_metrics",
    )
)


def batch_table(items: list[Received]) -> pa.Table:
    """The Arrow view the statements read: one row per received event."""
    payloads = [item.raw.decode("utf-8", errors="replace") for item in items]
    current = [
        item.event.model_dump_json() if item.upcast else payload
        for item, payload in zip(items, payloads, strict=True)
    ]
    return pa.Table.from_arrays(
        [
            pa.array(payloads, pa.string()),
            pa.array(current, pa.string()),
            pa.array([i.event.type for i in items], pa.string()),
            pa.array([i.topic for i in items], pa.string()),
            pa.array([i.partition for i in items], pa.int32()),
            pa.array([i.offset for i in items], pa.int64()),
        ],
        schema=BATCH_SCHEMA,
    )


def statements_for(event_types: set[str]) -> list[tuple[str, str]]:
    """(table, SQL) pairs that a batch with these event types needs, events first."""
    needed = [("events", EVENTS_SQL)]
    if event_types & {"EpisodeStarted", "EpisodeCompleted"}:
        needed.append(("episodes", EPISODES_SQL))
    routes = {
        "DecisionMade": "decisions",
        "DecisionRewarded": "rewards",
        "JudgeVerdict": "verdicts",
        "JudgeFailed": "verdicts",
        "TrajectoryScored": "trajectories",
        "DriftWindow": "drift_windows",
        "DriftAlert": "drift_alerts",
        "PolicyVersionPublished": "policy_versions",
        "LearnerUpdated": "learner_updates",
        "EvalReport": "eval_reports",
        "StageChanged": "stage_changes",
        "DeadLetter": "dead_letters",
    }
    tables = {routes[t] for t in event_types if t in routes}
    needed += [(table, TYPED_SQL[table]) for table in TYPED_SQL if table in tables]
    return needed
