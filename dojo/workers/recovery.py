"""After the embedded broker lost everything: publish again, from the store, what the
downstream consumers had not finished.

The environment workers hold each episode until it is stored, and publish what
they hold again themselves (:mod:`dojo.workers.retention`). What was stored but
not yet processed further went with the broker too: an episode the scoring app
had not scored (its rewards, verdicts or trajectory still in flight) and a
scored trajectory the learner had not consumed. The store has their events,
exactly as published; they are sent again, each episode's in order, keyed as
before. Their ids are unchanged, so nothing is stored twice, and the learner
skips a trajectory it has trained on already.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.store import open_store

#: events of this run's completed episodes that have no scored trajectory yet
UNSCORED_SQL = """
SELECT v.topic, v.episode_id, CAST(v.payload AS VARCHAR) AS payload
FROM events v JOIN episodes e ON e.episode_id = v.episode_id
WHERE e.completed_event_id IS NOT NULL AND e.started_at >= CAST(? AS TIMESTAMPTZ)
  AND v.topic LIKE '%.episodes'
  AND NOT EXISTS (SELECT 1 FROM trajectories t WHERE t.episode_id = e.episode_id)
ORDER BY v.episode_id, v.produced_at, v."offset"
"""

#: this run's scored trajectories that no learner update lists as consumed
UNTRAINED_SQL = """
SELECT v.topic, v.episode_id, CAST(v.payload AS VARCHAR) AS payload
FROM trajectories t JOIN events v ON v.event_id = t.event_id
WHERE t.produced_at >= CAST(? AS TIMESTAMPTZ)
  AND NOT EXISTS (
    SELECT 1 FROM learner_updates u WHERE list_contains(
      CAST(u.trajectory_ids AS VARCHAR[]) || CAST(u.dropped_ids AS VARCHAR[])
      || CAST(u.skipped_ids AS VARCHAR[]), CAST(t.event_id AS VARCHAR)))
ORDER BY t.produced_at
"""


class Recovered(BaseModel):
    episodes: int = 0
    events: int = 0
    trajectories: int = 0


def _rows(settings: Settings, sql: str, since: datetime) -> list[dict[str, str]]:
    reader = open_store(settings.store.path, settings.store.url)
    try:
        # ISO text: the writer's query endpoint takes JSON parameters
        return reader.query(sql, [since.isoformat()]).to_pylist()
    finally:
        reader.close()


async def republish_unfinished(
    settings: Settings, since: datetime, *, scoring: bool, learner: bool
) -> Recovered:
    """Send again this run's (since ``since``) stored episodes not yet scored (``scoring``)
    and scored trajectories not yet trained on (``learner``)."""
    recovered = Recovered()
    rows: list[dict[str, str]] = []
    if scoring:
        episode_rows = await asyncio.to_thread(_rows, settings, UNSCORED_SQL, since)
        recovered.episodes = len({r["episode_id"] for r in episode_rows})
        recovered.events = len(episode_rows)
        rows += episode_rows
    if learner:
        trajectory_rows = await asyncio.to_thread(_rows, settings, UNTRAINED_SQL, since)
        recovered.trajectories = len(trajectory_rows)
        rows += trajectory_rows
    if not rows:
        return recovered
    producer = AIOKafkaProducer(
        **aiokafka_options(settings), acks="all", enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    try:
        sent = [
            await producer.send(r["topic"], r["payload"].encode(), key=r["episode_id"].encode())
            for r in rows
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return recovered
