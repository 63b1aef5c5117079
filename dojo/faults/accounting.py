"""Accounting for every event id after a run with faults: published, stored, lost, twice.

*Published* is what the environment workers' ledgers list (``DOJO_ENV_LEDGER``):
the event ids of every episode the broker acknowledged in full. *Stored* is
what the store holds. *Lost* is published and not stored. *Duplicated* counts
what was stored or used more than once where it must be once: a row per event
id in every table, a reward per (decision, reward version), a scored
trajectory per (episode, reward version), and a trajectory in more than one
learner update. Episodes a fault tore in half (started, never completed) are
counted apart: they were never acknowledged in full, and the store shows them
as incomplete.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from dojo.store import StoreReader, store_stats


class Accounts(BaseModel):
    episodes_published: int
    events_published: int
    events_stored: int
    #: published (acknowledged) event ids that are not in the store
    lost: int
    lost_ids: list[str]
    #: rows, rewards, trajectories or trainings that exist more than once where one is right
    duplicated: int
    duplicated_by_kind: dict[str, int]
    episodes_completed: int
    #: episodes a fault tore in half: started, never completed, and shown so in the store
    episodes_incomplete: int
    #: the processes that started them (``env-worker-<i>@<host>:<pid>``)
    incomplete_sources: list[str]
    #: decisions of completed episodes, and how many of them have a reward
    decisions: int
    decisions_rewarded: int
    trajectories: int
    trajectories_trained: int


def published_ids(data_dir: Path) -> dict[str, list[str]]:
    """{episode id: its event ids} from every ledger under ``data_dir``."""
    episodes: dict[str, list[str]] = {}
    for ledger in sorted((data_dir / "ledgers").glob("*.jsonl")):
        for line in ledger.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                episodes[entry["episode_id"]] = entry["event_ids"]
    return episodes


def _one(reader: StoreReader, sql: str) -> int:
    return int(reader.query(sql).column(0)[0].as_py() or 0)


_TWICE = {
    "rewards per decision and reward version": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM rewards "
        "GROUP BY decision_id, reward_version HAVING count(*) > 1)"
    ),
    "trajectories per episode and reward version": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM trajectories "
        "GROUP BY episode_id, reward_version HAVING count(*) > 1)"
    ),
    "trajectories trained in more than one update": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
        "(SELECT unnest(CAST(trajectory_ids AS VARCHAR[])) AS id FROM learner_updates) "
        "GROUP BY id HAVING count(*) > 1)"
    ),
}


# decisions of completed episodes (a torn episode's decisions are never rewarded)
_COMPLETED = (
    "EXISTS (SELECT 1 FROM episodes e WHERE e.episode_id = d.episode_id "
    "AND e.completed_event_id IS NOT NULL)"
)


def missing(reader: StoreReader, event_ids: list[str]) -> list[str]:
    """Those of ``event_ids`` the store does not hold."""
    found = set(
        reader.query(
            "SELECT CAST(event_id AS VARCHAR) AS id FROM events "
            "WHERE list_contains(?::VARCHAR[], CAST(event_id AS VARCHAR))",
            [event_ids],
        )
        .column(0)
        .to_pylist()
    )
    return [i for i in event_ids if i not in found]


def account(reader: StoreReader, data_dir: Path) -> Accounts:
    published = published_ids(data_dir)
    wanted = sorted({i for ids in published.values() for i in ids})
    lost = missing(reader, wanted)
    stats = store_stats(reader)
    twice = {
        f"{table} rows per event id": (c.rows - c.distinct_event_ids)
        for table, c in stats.tables.items()
        if c.distinct_event_ids is not None and c.rows != c.distinct_event_ids
    }
    twice.update({kind: _one(reader, sql) for kind, sql in _TWICE.items()})
    twice = {k: v for k, v in twice.items() if v}
    return Accounts(
        episodes_published=len(published),
        events_published=len(wanted),
        events_stored=stats.tables["events"].rows,
        lost=len(lost),
        lost_ids=lost[:20],
        duplicated=sum(twice.values()),
        duplicated_by_kind=twice,
        episodes_completed=stats.episodes_completed,
        episodes_incomplete=stats.episodes_incomplete,
        incomplete_sources=reader.query(
            "SELECT source FROM episodes WHERE completed_event_id IS NULL ORDER BY source"
        )
        .column(0)
        .to_pylist(),
        decisions=_one(reader, f"SELECT count(*) FROM decisions d WHERE {_COMPLETED}"),
        decisions_rewarded=_one(
            reader,
            "SELECT count(DISTINCT d.decision_id) FROM decisions d JOIN rewards r "
            f"ON r.decision_id = d.decision_id WHERE {_COMPLETED}",
        ),
        trajectories=stats.tables["trajectories"].rows,
        trajectories_trained=_one(
            reader,
            "SELECT count(DISTINCT id) FROM (SELECT unnest(CAST(trajectory_ids AS VARCHAR[])) "
            "AS id FROM learner_updates)",
        ),
    )
