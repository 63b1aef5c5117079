"""How a re-scoring moved the rewards: per-behaviour means, rank correlation, top movers.

The new side is accumulated batch by batch while the replay runs (sums per
behaviour, a total per episode); the old side is a stored reward version,
summarised by queries in the store. Both are small by then, so the final
comparison is a join of per-episode totals in DuckDB.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from dojo.replay.history import ReplayFilter, _selected
from dojo.store import StoreReader


class BehaviourShift(BaseModel):
    behaviour: str
    old_mean: float | None
    new_mean: float | None
    old_n: int
    new_n: int

    @property
    def delta(self) -> float | None:
        if self.old_mean is None or self.new_mean is None:
            return None
        return self.new_mean - self.old_mean


class EpisodeShift(BaseModel):
    episode_id: str
    episode_type: str
    old_total: float
    new_total: float
    delta: float


class Comparison(BaseModel):
    """The new reward version against an older one, over the replayed episodes."""

    old_version: str
    new_version: str
    episodes_compared: int
    decisions_old: int
    decisions_new: int
    mean_old: float | None
    mean_new: float | None
    spearman_episode_totals: float | None
    behaviours: list[BehaviourShift]
    moved_most: list[EpisodeShift]


class NewSide:
    """Accumulates the new version's per-behaviour sums and per-episode totals, batch by batch."""

    def __init__(self) -> None:
        self._behaviours: dict[str, list[float]] = {}
        self._totals: list[pa.Table] = []
        self.decisions = 0
        self.scalar_sum = 0.0

    def add(self, scored: pa.Table, conn: duckdb.DuckDBPyConnection) -> None:
        vector = scored.column("vector").combine_chunks()
        keys = vector.keys  # dictionary encoded: sum per name with one bincount
        if isinstance(keys, pa.DictionaryArray) and len(keys):
            codes = keys.indices.to_numpy(zero_copy_only=False)
            values = vector.items.to_numpy(zero_copy_only=False)
            names = keys.dictionary.to_pylist()
            totals = np.bincount(codes, weights=values, minlength=len(names))
            counts = np.bincount(codes, minlength=len(names))
            for i, name in enumerate(names):
                if counts[i] and name.startswith("behaviour/"):
                    acc = self._behaviours.setdefault(name.removeprefix("behaviour/"), [0.0, 0.0])
                    acc[0] += float(totals[i])
                    acc[1] += int(counts[i])
        conn.register("scored", scored.select(["episode_id", "episode_type", "scalar"]))
        try:
            self._totals.append(
                conn.sql(
                    """SELECT episode_id, any_value(episode_type) AS episode_type,
                              sum(scalar) AS total
                       FROM scored GROUP BY episode_id"""
                ).to_arrow_table()
            )
        finally:
            conn.unregister("scored")
        self.decisions += scored.num_rows
        self.scalar_sum += float(pc.sum(scored.column("scalar")).as_py() or 0.0)

    def totals(self) -> pa.Table:
        if not self._totals:
            return pa.table(
                {
                    "episode_id": pa.array([], pa.string()),
                    "episode_type": pa.array([], pa.string()),
                    "total": pa.array([], pa.float64()),
                }
            )
        return pa.concat_tables(self._totals)

    def behaviour_means(self) -> dict[str, tuple[float, int]]:
        return {b: (s / n, int(n)) for b, (s, n) in self._behaviours.items() if n}


def old_side(
    reader: StoreReader, flt: ReplayFilter, version: str
) -> tuple[dict[str, tuple[float, int]], pa.Table, int, float | None]:
    """A stored version's per-behaviour means, per-episode totals, decision count and mean
    scalar, over the replayed episodes (one reward per decision: the latest row)."""
    cte, params = _selected(flt)
    latest = f"""WITH {cte},
        latest AS (
            SELECT r.episode_id, r.decision_id,
                   arg_max(r.scalar, r.produced_at) AS scalar,
                   arg_max(r.vector::VARCHAR, r.produced_at) AS vector
            FROM rewards r JOIN selected s USING (episode_id)
            WHERE r.reward_version = ?
            GROUP BY r.episode_id, r.decision_id
        )"""
    behaviours = reader.query(
        f"""{latest}
        SELECT substr(j.key, 11) AS behaviour, avg(j.value::DOUBLE) AS mean, count(*) AS n
        FROM latest l, json_each(l.vector) j
        WHERE j.key LIKE 'behaviour/%'
        GROUP BY j.key""",
        [*params, version],
    ).to_pylist()
    totals = reader.query(
        f"""{latest}
        SELECT episode_id, sum(scalar) AS total, count(*) AS n FROM latest GROUP BY episode_id""",
        [*params, version],
    )
    n = int(pc.sum(totals.column("n")).as_py() or 0)
    mean = (pc.sum(totals.column("total")).as_py() or 0.0) / n if n else None
    return (
        {row["behaviour"]: (float(row["mean"]), int(row["n"])) for row in behaviours},
        totals.select(["episode_id", "total"]),
        n,
        mean,
    )


def compare(
    old_version: str,
    old: tuple[dict[str, tuple[float, int]], pa.Table, int, float | None],
    new_version: str,
    new: NewSide,
    conn: duckdb.DuckDBPyConnection,
    top: int = 10,
) -> Comparison:
    old_means, old_totals, old_n, old_mean = old
    new_means = new.behaviour_means()
    conn.register("old_totals", old_totals)
    conn.register("new_totals", new.totals())
    try:
        stats = conn.sql(
            """WITH joined AS (
                   SELECT n.episode_id, n.episode_type, o.total AS old_total, n.total AS new_total
                   FROM new_totals n JOIN old_totals o USING (episode_id))
               -- Spearman's rho: Pearson's r of the ranks, ties sharing their mean rank
               SELECT count(*) AS n, corr(rank_old, rank_new) AS spearman
               FROM (SELECT rank() OVER (ORDER BY old_total)
                              + (count(*) OVER (PARTITION BY old_total) - 1) / 2.0 AS rank_old,
                            rank() OVER (ORDER BY new_total)
                              + (count(*) OVER (PARTITION BY new_total) - 1) / 2.0 AS rank_new
                     FROM joined)"""
        ).fetchall()[0]
        movers = conn.sql(
            f"""SELECT n.episode_id, n.episode_type, o.total AS old_total, n.total AS new_total,
                       n.total - o.total AS delta
                FROM new_totals n JOIN old_totals o USING (episode_id)
                ORDER BY abs(n.total - o.total) DESC, n.episode_id LIMIT {int(top)}"""
        ).to_arrow_table()
    finally:
        conn.unregister("old_totals")
        conn.unregister("new_totals")
    spearman = stats[1]
    return Comparison(
        old_version=old_version,
        new_version=new_version,
        episodes_compared=int(stats[0]),
        decisions_old=old_n,
        decisions_new=new.decisions,
        mean_old=old_mean,
        mean_new=new.scalar_sum / new.decisions if new.decisions else None,
        spearman_episode_totals=None if spearman is None else float(spearman),
        behaviours=[
            BehaviourShift(
                behaviour=b,
                old_mean=old_means.get(b, (None, 0))[0],
                new_mean=new_means.get(b, (None, 0))[0],
                old_n=old_means.get(b, (0.0, 0))[1],
                new_n=new_means.get(b, (0.0, 0))[1],
            )
            for b in sorted(set(old_means) | set(new_means))
        ],
        moved_most=[EpisodeShift(**row) for row in movers.to_pylist()],
    )
