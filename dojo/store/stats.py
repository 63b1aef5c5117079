"""What is in a store: counts per table, duplicate checks, orphans, torn episodes."""

from __future__ import annotations

from pydantic import BaseModel

from dojo.store.reader import StoreReader

TABLES = [
    "events",
    "episodes",
    "decisions",
    "rewards",
    "verdicts",
    "trajectories",
    "drift_windows",
    "drift_alerts",
    "policy_versions",
    "learner_updates",
    "eval_reports",
    "stage_changes",
    "dead_letters",
]
_KEYED_BY_EVENT = [t for t in TABLES if t != "episodes"]

#: a completed episode (``e``) whose every event is stored: its EpisodeCompleted
#: counts the episode's events before it
ALL_EVENTS_STORED = (
    "e.event_count + 1 = (SELECT count(*) FROM events v "
    "WHERE v.episode_id = e.episode_id AND v.topic LIKE '%.episodes')"
)

_ORPHANS = {
    # a decision whose episode never started
    "decisions_without_episode": (
        "SELECT count(*) FROM decisions d "
        "WHERE NOT EXISTS (SELECT 1 FROM episodes e "
        "WHERE e.episode_id = d.episode_id AND e.started_event_id IS NOT NULL)"
    ),
    "rewards_without_decision": (
        "SELECT count(*) FROM rewards r "
        "WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.decision_id = r.decision_id)"
    ),
    "verdicts_without_decision": (
        "SELECT count(*) FROM verdicts v "
        "WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.decision_id = v.decision_id)"
    ),
    # completed, but fewer (or more) episode events stored than the episode announced
    "episodes_with_missing_events": (
        "SELECT count(*) FROM episodes e WHERE e.completed_event_id IS NOT NULL AND "
        f"NOT ({ALL_EVENTS_STORED})"
    ),
}


class TableCount(BaseModel):
    rows: int
    distinct_event_ids: int | None = None


class StoreStats(BaseModel):
    schema_version: int
    tables: dict[str, TableCount]
    events_by_type: dict[str, int]
    episodes_completed: int
    episodes_incomplete: int
    orphans: dict[str, int]

    @property
    def consistent(self) -> bool:
        duplicates = any(
            c.distinct_event_ids is not None and c.distinct_event_ids != c.rows
            for c in self.tables.values()
        )
        return not duplicates and not any(self.orphans.values())


def _scalar(reader: StoreReader, sql: str) -> int:
    value = reader.query(sql).column(0)[0].as_py()
    return int(value or 0)


def store_stats(reader: StoreReader) -> StoreStats:
    tables = {}
    for table in TABLES:
        rows = _scalar(reader, f"SELECT count(*) FROM {table}")
        distinct = (
            _scalar(reader, f"SELECT count(DISTINCT event_id) FROM {table}")
            if table in _KEYED_BY_EVENT
            else None
        )
        tables[table] = TableCount(rows=rows, distinct_event_ids=distinct)
    by_type = reader.query("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type")
    return StoreStats(
        schema_version=_scalar(reader, "SELECT coalesce(max(version), 0) FROM schema_migrations"),
        tables=tables,
        events_by_type=dict(
            zip(by_type.column("type").to_pylist(), by_type.column("n").to_pylist(), strict=True)
        ),
        episodes_completed=_scalar(
            reader, "SELECT count(*) FROM episodes WHERE completed_event_id IS NOT NULL"
        ),
        episodes_incomplete=_scalar(
            reader, "SELECT count(*) FROM episodes WHERE completed_event_id IS NULL"
        ),
        orphans={name: _scalar(reader, sql) for name, sql in _ORPHANS.items()},
    )
