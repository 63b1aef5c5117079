"""Re-scored decisions as DecisionRewarded events, built column-wise in DuckDB.

Each event's id is ``derive_event_id("DecisionRewarded", decision_id,
reward_version, judge_version or "-")`` — the id the live attribution agent
gives the same reward — computed in SQL (a UUIDv5 is the SHA-1 of the
namespace and the name, with the version and variant bits set). So a replay
under the reward config the live system used re-creates the rows it already
has, and any replay done twice stores nothing the second time.

The payload is the event's JSON, assembled by ``json_object`` from the
columns: what the sink would have stored had the event come off the rewards
topic, and what goes on that topic when a live sink owns the store.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from dojo.events.envelope import DOJO_NAMESPACE
from dojo.store.projection import BATCH_SCHEMA

#: where a row the replay wrote straight into the store "came from": no topic, no offset
DIRECT_TOPIC = "(replay)"


def uuid5_sql(name: str) -> str:
    """SQL for ``derive_event_id`` of the VARCHAR expression ``name`` (``$namespace``: the UUID's bytes)."""
    h = f"sha1($namespace::BLOB || encode({name}))"
    return (
        f"(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-5' || substr({h}, 14, 3) || '-' "
        f"|| lower(printf('%x', (('0x' || substr({h}, 17, 1))::INTEGER & 3) | 8)) "
        f"|| substr({h}, 18, 3) || '-' || substr({h}, 21, 12))"
    )


_REWARD_ID = uuid5_sql(
    "'DecisionRewarded/' || decision_id || '/' || $reward_version || '/' "
    "|| coalesce(judge_version, '-')"
)

_REWARDS_SQL = f"""
SELECT event_id, decision_id, episode_id,
       json_object(
           'event_id', event_id, 'schema_version', 1, 'produced_at', $produced_at,
           'source', $source, 'episode_id', episode_id, 'type', 'DecisionRewarded',
           'decision_id', decision_id, 'reward_version', $reward_version,
           'judge_version', judge_version, 'episode_type', episode_type, 'stage', stage,
           'vector', to_json(vector), 'scalar', scalar,
           'components_present', components_present
       )::VARCHAR AS payload
FROM (SELECT *, {_REWARD_ID} AS event_id FROM scored)
"""


def unstored(
    scored: pa.Table, stored_ids: pa.ChunkedArray | pa.Array, reward_version: str,
    conn: duckdb.DuckDBPyConnection,
) -> pa.Array:  # fmt: skip
    """Per re-scored row, whether its event id is not among ``stored_ids`` (the ids of the
    rewards of this version already stored for the same decision, row by row)."""
    rows = scored.select(["decision_id", "judge_version"]).append_column("stored", stored_ids)
    conn.register("scored", rows)
    try:
        table = conn.sql(
            f"SELECT NOT list_contains(stored, {_REWARD_ID}) AS fresh FROM scored",
            params={"namespace": DOJO_NAMESPACE.bytes, "reward_version": reward_version},
        ).to_arrow_table()
    finally:
        conn.unregister("scored")
    return table.column("fresh").combine_chunks()


def reward_events(
    scored: pa.Table,
    reward_version: str,
    produced_at: datetime,
    source: str,
    conn: duckdb.DuckDBPyConnection,
) -> pa.Table:
    """Columns event_id, decision_id, episode_id, payload (a DecisionRewarded's JSON) per row
    of ``scored`` (the output of :func:`dojo.replay.rescore.rescore`)."""
    conn.register("scored", scored)
    try:
        return conn.sql(
            _REWARDS_SQL,
            params={
                "namespace": DOJO_NAMESPACE.bytes,
                "reward_version": reward_version,
                "produced_at": produced_at.isoformat(),
                "source": source,
            },
        ).to_arrow_table()
    finally:
        conn.unregister("scored")


def direct_batch(payloads: pa.Array | pa.ChunkedArray, event_type: str) -> pa.Table:
    """The store projection's batch form for events of one type written without a topic
    in between."""
    n = len(payloads)
    payload = payloads.combine_chunks() if isinstance(payloads, pa.ChunkedArray) else payloads
    columns = {
        "payload": payload,
        "current": payload,
        "type": pa.array([event_type] * n, pa.string()),
        "topic": pa.array([DIRECT_TOPIC] * n, pa.string()),
        "partition": pa.array([-1] * n, pa.int32()),
        "offset": pa.array([-1] * n, pa.int64()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in BATCH_SCHEMA], schema=BATCH_SCHEMA)
