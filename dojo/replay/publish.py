"""What a replay sends to Kafka: rewards and verdicts for a live sink to store, and
TrajectoryScored for the learner.

Trajectories are assembled in DuckDB like the assembler of the scoring app
assembles them live — one per episode, every decision with its stored token
ids, the log-probs it was sampled with (the *behaviour* log-probs), the masks
it was sampled under, and its new reward — under the same id as the assembler
would give it: (episode, reward version, judge version or "-"). The learner
treats them like any trajectory: the stored log-probs are exactly what its
importance ratio needs (new policy over behaviour policy, clipped), and the
``policy_version`` tells it how stale they are. Episodes a scripted policy
played carry no tokens and are not sent (a learner cannot train on them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from aiokafka import AIOKafkaProducer

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events.envelope import DOJO_NAMESPACE
from dojo.replay.rows import uuid5_sql
from dojo.store import StoreReader
from dojo.topics import Topic, topic_name

_TOKENS_SQL = """
SELECT d.decision_id, d.prompt_token_ids, d.completion_token_ids, d.logprobs,
       d.allowed_token_ids::VARCHAR AS allowed_token_ids, d.context_offset
FROM decisions d WHERE d.episode_id IN (SELECT unnest(?::VARCHAR[]))
"""

_STARTS_SQL = """
SELECT episode_id, (payload->'$.spec')::VARCHAR AS spec,
       payload->>'$.policy_version' AS policy_version
FROM events
WHERE type = 'EpisodeStarted' AND episode_id IN (SELECT unnest(?::VARCHAR[]))
"""

_TRAJECTORY_ID = uuid5_sql(
    "'TrajectoryScored/' || episode_id || '/' || $reward_version || '/' "
    "|| coalesce(judge_version, '-')"
)

_TRAJECTORIES_SQL = f"""
WITH decisions AS (
    SELECT s.episode_id, s.decision_id, s.step, s.scalar, s.vector, s.judge_version,
           t.prompt_token_ids, t.completion_token_ids, t.logprobs, t.allowed_token_ids,
           t.context_offset
    FROM scored s JOIN tokens t USING (decision_id)
),
episodes AS (
    SELECT episode_id, any_value(judge_version) AS judge_version,
           sum(scalar) AS episode_reward,
           bool_and(len(completion_token_ids) > 0 AND len(prompt_token_ids) > 0) AS trainable,
           list(json_object(
               'decision_id', decision_id, 'step', step,
               'prompt_token_ids', prompt_token_ids,
               'completion_token_ids', completion_token_ids, 'logprobs', logprobs,
               'allowed_token_ids', allowed_token_ids::JSON,
               'reward', scalar, 'vector', to_json(vector),
               'context_offset', context_offset) ORDER BY step) AS decisions
    FROM decisions GROUP BY episode_id
)
SELECT episode_id, trainable,
       json_object(
           'event_id', {_TRAJECTORY_ID}, 'schema_version', 2, 'produced_at', $produced_at,
           'source', $source, 'episode_id', episode_id, 'type', 'TrajectoryScored',
           'spec', st.spec::JSON, 'policy_version', st.policy_version,
           'reward_version', $reward_version, 'judge_version', judge_version,
           'episode_reward', episode_reward, 'decisions', decisions
       )::VARCHAR AS payload
FROM episodes JOIN starts st USING (episode_id)
"""


def trajectory_events(
    reader: StoreReader,
    scored: pa.Table,
    reward_version: str,
    produced_at: datetime,
    source: str,
    conn: duckdb.DuckDBPyConnection,
) -> tuple[pa.Table, int]:
    """(episode_id, payload) of the trainable episodes of ``scored`` (whole episodes, see
    :func:`dojo.replay.rescore.rescore`), and how many were left out for want of tokens."""
    episodes = pc.unique(scored.column("episode_id")).to_pylist()
    tokens = reader.query(_TOKENS_SQL, [episodes])
    starts = reader.query(_STARTS_SQL, [episodes])
    views = {"scored": scored, "tokens": tokens, "starts": starts}
    for name, table in views.items():
        conn.register(name, table)
    try:
        built = conn.sql(
            _TRAJECTORIES_SQL,
            params={
                "namespace": DOJO_NAMESPACE.bytes,
                "reward_version": reward_version,
                "produced_at": produced_at.isoformat(),
                "source": source,
            },
        ).to_arrow_table()
    finally:
        for name in views:
            conn.unregister(name)
    trainable = built.filter(built.column("trainable"))
    return trainable.select(["episode_id", "payload"]), built.num_rows - trainable.num_rows


class Publisher:
    """One Kafka producer for a replay's sends (keyed like every producer of the topic)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # no idempotence: Tansu refuses InitProducerId; the sinks are idempotent instead
        self._producer = AIOKafkaProducer(
            **aiokafka_options(settings),
            acks="all",
            enable_idempotence=False,
            linger_ms=10,
            max_batch_size=512 * 1024,
            request_timeout_ms=30_000,
        )
        self.sent = 0

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: Topic, messages: Iterable[tuple[str, str | bytes]]) -> int:
        """Send (key, value) pairs to ``topic``; returns how many, once all are acknowledged."""
        name = topic_name(topic, self.settings.topic_prefix)
        futures = []
        for key, value in messages:
            payload = value.encode() if isinstance(value, str) else value
            futures.append(await self._producer.send(name, payload, key=key.encode()))
        for future in futures:
            await future
        self.sent += len(futures)
        return len(futures)
