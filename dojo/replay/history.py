"""Which stored episodes a replay covers, and reading them out of the store as Arrow.

Only complete episodes are replayed: an EpisodeCompleted stored, and exactly
as many decisions stored as it announced (a torn episode got no rewards live
either). Each query here is a single SELECT, so it runs the same against the
store file and through a live sink's query endpoint (:func:`dojo.store.open_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from dojo.env.registry import CODE_PATTERN
from dojo.store import StoreReader


class ReplayFilter(BaseModel):
    """Which episodes to replay (all conditions must hold; unset means any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: datetime | None = Field(default=None, description="episodes started at or after")
    until: datetime | None = Field(default=None, description="episodes started before")
    stage: int | None = Field(default=None, ge=1, le=4)
    episode_type: str | None = Field(default=None, pattern=CODE_PATTERN)

    def where(self) -> tuple[str, list[object]]:
        """SQL conditions on ``episodes e`` and their parameters."""
        clauses = ["e.completed_event_id IS NOT NULL"]
        params: list[object] = []
        if self.since is not None:
            clauses.append("e.started_at >= ?::TIMESTAMPTZ")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append("e.started_at < ?::TIMESTAMPTZ")
            params.append(self.until.isoformat())
        if self.stage is not None:
            clauses.append("e.stage = ?")
            params.append(self.stage)
        if self.episode_type is not None:
            clauses.append("e.episode_type = ?")
            params.append(self.episode_type)
        return " AND ".join(clauses), params


def _selected(flt: ReplayFilter) -> tuple[str, list[object]]:
    """A CTE ``selected``: the complete, untorn episodes the filter picks (their ids and how
    many decisions they announced), and ``chosen``: every complete episode the filter picks,
    with ``whole`` telling the untorn ones."""
    where, params = flt.where()
    return (
        f"""
        counted AS (
            SELECT episode_id, count(*) AS stored FROM decisions GROUP BY episode_id
        ),
        chosen AS (
            SELECT e.episode_id, e.completed_event_id,
                   coalesce(c.stored, 0) = e.decision_count AS whole
            FROM episodes e LEFT JOIN counted c USING (episode_id)
            WHERE {where}
        ),
        selected AS (SELECT episode_id FROM chosen WHERE whole)""",
        params,
    )


@dataclass(frozen=True)
class History:
    """The stored history a replay re-scores (Arrow tables, see :mod:`dojo.replay.rescore`)."""

    episodes: pa.Table
    decisions: pa.Table
    torn: int  # complete episodes skipped: decisions stored differ from those announced


def load_history(
    reader: StoreReader,
    flt: ReplayFilter,
    judge_version: str | None,
    reward_version: str | None = None,
) -> History:
    """The selected episodes and their decisions (only what re-scoring reads), with the
    stored answers of ``judge_version`` (none when it is ``None``) and the ids of the
    rewards of ``reward_version`` already stored for each decision (``stored_ids``).

    Decision columns: those of :data:`dojo.replay.rescore.DECISION_COLUMNS`
    (``scores``: the verdict's scores, JSON text, NULL without one) and
    ``answered``: a verdict or a recorded failure of that judge is stored.
    Swapped-order repeats are hygiene measurements, not verdicts: left out.
    """
    cte, params = _selected(flt)
    episodes = reader.query(
        f"""WITH {cte}
        SELECT e.episode_id, e.episode_type, e.stage, e.policy_version,
               (v.payload->>'$.outcome.baseline_actions')::INTEGER AS baseline_actions,
               e.outcome::VARCHAR AS outcome, c.whole
        FROM chosen c JOIN episodes e USING (episode_id)
        JOIN events v ON v.event_id = c.completed_event_id
        ORDER BY e.episode_id""",
        params,
    )
    decisions = reader.query(
        f"""WITH {cte},
        answers AS (
            SELECT v.decision_id,
                   any_value(v.scores::VARCHAR) FILTER (WHERE v.status = 'ok') AS scores
            FROM verdicts v JOIN selected s USING (episode_id)
            WHERE v.judge_version = ? AND NOT coalesce(v.swapped, false)
            GROUP BY v.decision_id
        ),
        stored AS (
            SELECT r.decision_id, list(r.event_id::VARCHAR) AS stored_ids
            FROM rewards r JOIN selected s USING (episode_id)
            WHERE r.reward_version = ?
            GROUP BY r.decision_id
        )
        SELECT d.decision_id, d.episode_id, d.step, d.signals::VARCHAR AS signals,
               d.transition, d.transition_correct, a.scores,
               a.decision_id IS NOT NULL AS answered,
               coalesce(w.stored_ids, []::VARCHAR[]) AS stored_ids
        FROM decisions d JOIN selected s USING (episode_id)
        LEFT JOIN answers a USING (decision_id)
        LEFT JOIN stored w USING (decision_id)
        ORDER BY d.episode_id, d.step""",
        [*params, judge_version or "", reward_version or ""],
    )
    whole = episodes.column("whole")
    torn = episodes.num_rows - pc.sum(whole).as_py() if episodes.num_rows else 0
    return History(
        episodes=episodes.filter(whole).drop_columns(["whole"]),
        decisions=decisions,
        torn=int(torn or 0),
    )


def load_rewards(reader: StoreReader, flt: ReplayFilter, reward_version: str) -> pa.Table:
    """Stored rewards of ``reward_version`` for the selected decisions (one per decision:
    where several judge versions fed it, the latest)."""
    cte, params = _selected(flt)
    return reader.query(
        f"""WITH {cte}
        SELECT r.decision_id, r.episode_id,
               arg_max(r.event_id::VARCHAR, r.produced_at) AS event_id,
               arg_max(r.scalar, r.produced_at) AS scalar,
               arg_max(r.vector::VARCHAR, r.produced_at) AS vector
        FROM rewards r JOIN selected s USING (episode_id)
        WHERE r.reward_version = ?
        GROUP BY r.decision_id, r.episode_id""",
        [*params, reward_version],
    )


def reward_versions(reader: StoreReader, flt: ReplayFilter) -> dict[str, int]:
    """Reward versions stored for the selected episodes, with their row counts."""
    cte, params = _selected(flt)
    rows = reader.query(
        f"""WITH {cte}
        SELECT r.reward_version, count(*) AS n
        FROM rewards r JOIN selected s USING (episode_id)
        GROUP BY r.reward_version ORDER BY n DESC, r.reward_version""",
        params,
    ).to_pylist()
    return {row["reward_version"]: int(row["n"]) for row in rows}
