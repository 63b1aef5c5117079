"""The judge's part of a replay: stored verdicts are reused, only the missing are asked for.

Which decisions are due is the live rule (:func:`dojo.judge.selection.is_due`:
judgeable signals, and the sampling's hash of the id), evaluated column-wise in
DuckDB. A due decision with an answer of this judge version in the store — a
verdict, or a recorded failure unless ``retry_failed`` — is not judged again.
The rest are judged exactly as the live judging agent judges them: the request
is rebuilt from the stored events (same content, same content hash) and goes
through the verdict cache, which looks the content up in the store first
(a verdict on the same content under another decision is reused, not paid
for), then hygiene, then the judge. Answers become JudgeVerdict / JudgeFailed
events with the live ids (decision id and judge version), so they are stored
once however often a replay runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from dojo.env.moves import Move
from dojo.events import (
    DecisionMade,
    EpisodeStarted,
    JudgeFailed,
    JudgeVerdict,
    Stamper,
    decode,
)
from dojo.judge import JudgeFailure, JudgeRequest, Verdict
from dojo.judge.base import Judge, version_of
from dojo.judge.cache import VerdictKey
from dojo.judge.request import canonical_json
from dojo.judge.rubrics import JUDGE_COMPONENTS
from dojo.judge.sampling import SamplingConfig
from dojo.judge.selection import judge_request
from dojo.judge.store_cache import StoreVerdictCache
from dojo.store import StoreReader

VerdictEvent = JudgeVerdict | JudgeFailed

#: episodes whose events are read from the store in one query
EPISODES_PER_QUERY = 500

_DUE_SQL = """
SELECT list_has_any(
           list_transform(json_keys(signals), lambda k: split_part(k, '/', 1)), $codes
       )
       AND ($every = 1 OR ('0x' || substr(sha256(encode($salt) || '\\x00'::BLOB
            || encode(CASE WHEN $unit = 'decision' THEN decision_id ELSE episode_id END)),
            1, 16))::UBIGINT % $every = 0) AS due
FROM decisions
"""

_EVENTS_SQL = """
SELECT payload::VARCHAR AS payload FROM events
WHERE type IN ('EpisodeStarted', 'DecisionMade')
  AND episode_id IN (SELECT unnest(?::VARCHAR[]))
"""


class JudgeCounts(BaseModel):
    """What the judge's part of a replay did."""

    judge_version: str
    due: int = 0
    answered_in_store: int = 0
    asked: int = 0
    cached: int = 0  # of those asked: answered by the verdict cache, no judge call
    verdicts: int = 0
    failures: int = 0


def due_mask(
    decisions: pa.Table, sampling: SamplingConfig, conn: duckdb.DuckDBPyConnection
) -> np.ndarray:
    """Which decisions the live judge grades (:func:`dojo.judge.selection.is_due`), in order."""
    conn.register("decisions", decisions.select(["decision_id", "episode_id", "signals"]))
    try:
        due = conn.sql(
            _DUE_SQL,
            params={
                "codes": sorted(JUDGE_COMPONENTS),
                "every": sampling.every,
                "unit": sampling.unit,
                "salt": sampling.salt,
            },
        ).to_arrow_table()
    finally:
        conn.unregister("decisions")
    return due.column("due").to_numpy(zero_copy_only=False).astype(bool)


class BorrowedReader:
    """A reader lent to the verdict cache, which closes what it opens."""

    def __init__(self, reader: StoreReader) -> None:
        self._reader = reader

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        return self._reader.query(sql, params)

    def close(self) -> None:
        """The owner closes it."""


@dataclass
class Judged:
    """Newly judged decisions: the events to append, and the scores to re-score with."""

    events: list[VerdictEvent]
    scores: dict[str, str]  # decision id -> verdict scores (canonical JSON)
    counts: JudgeCounts


def _requests(reader: StoreReader, wanted: set[str], episode_ids: list[str]) -> list[tuple[DecisionMade, JudgeRequest]]:  # fmt: skip
    """The live judge's requests for the ``wanted`` decisions, rebuilt from the stored events."""
    out: list[tuple[DecisionMade, JudgeRequest]] = []
    payloads = reader.query(_EVENTS_SQL, [episode_ids]).column("payload").to_pylist()
    starts: dict[str, EpisodeStarted] = {}
    decisions: dict[str, list[DecisionMade]] = {}
    for payload in payloads:
        event = decode(payload)
        if isinstance(event, EpisodeStarted):
            starts[event.episode_id] = event
        elif isinstance(event, DecisionMade):
            decisions.setdefault(event.episode_id, []).append(event)
    for episode_id, made in decisions.items():
        started = starts.get(episode_id)
        if started is None:
            continue  # no EpisodeStarted stored: the live judge never graded it either
        made.sort(key=lambda d: d.step)
        history: list[Move] = []
        for decision in made:
            if decision.decision_id in wanted:
                out.append((decision, judge_request(decision, started.spec, history)))
            history.append(decision.move)
    return out


async def judge_missing(
    reader: StoreReader,
    decisions: pa.Table,
    judge: Judge,
    cache: StoreVerdictCache | None,
    stamper: Stamper,
    conn: duckdb.DuckDBPyConnection,
    *,
    tolerance: float,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Judged:
    """Judge the due decisions that have no stored answer of ``judge``'s version.

    ``decisions`` are the replay's (with ``scores`` and ``answered`` from the
    store); ``judge`` is the full stack (cache outside hygiene outside the
    model); ``cache``, when given, is filled from the store before asking;
    ``tolerance`` is hygiene's (:func:`verdict_events`).
    ``progress(done, total)`` is called as answers come in.
    """
    version = version_of(judge)
    due = due_mask(decisions, judge.sampling, conn)
    answered = decisions.column("answered").to_numpy(zero_copy_only=False).astype(bool)
    if retry_failed:
        answered &= pc.is_valid(decisions.column("scores")).to_numpy(zero_copy_only=False)
    counts = JudgeCounts(
        judge_version=version, due=int(due.sum()), answered_in_store=int((due & answered).sum())
    )
    missing = decisions.filter(pa.array(due & ~answered))
    judged = Judged(events=[], scores={}, counts=counts)
    total = missing.num_rows
    if total == 0:
        return judged
    if progress is not None:
        progress(0, total)
    wanted = set(missing.column("decision_id").to_pylist())
    episode_ids = pc.unique(missing.column("episode_id")).to_pylist()
    done = 0
    for start in range(0, len(episode_ids), EPISODES_PER_QUERY):
        work = _requests(reader, wanted, episode_ids[start : start + EPISODES_PER_QUERY])
        if cache is not None:
            keys = [
                VerdictKey(
                    judge_model=judge.judge_model,
                    rubric_version=judge.rubric_version,
                    content_hash=request.content_hash(),
                )
                for _, request in work
            ]
            behaviours = {request.content_hash(): request.behaviours for _, request in work}
            await asyncio.to_thread(cache.prefetch, keys, behaviours)

        async def one(request: JudgeRequest) -> Verdict | JudgeFailure:
            nonlocal done
            result = await judge.judge(request)
            done += 1
            if progress is not None:
                progress(done, total)
            return result

        results = await asyncio.gather(*(one(request) for _, request in work))
        for (decision, _), result in zip(work, results, strict=True):
            judged.events += verdict_events(stamper, decision, result, version, tolerance)
            counts.asked += 1
            if isinstance(result, Verdict):
                counts.verdicts += 1
                counts.cached += int(result.cached)
                judged.scores[decision.decision_id] = canonical_json(result.scores)
            else:
                counts.failures += 1
    return judged


def verdict_events(
    stamper: Stamper,
    decision: DecisionMade,
    result: Verdict | JudgeFailure,
    version: str,
    tolerance: float,
) -> list[VerdictEvent]:
    """The events that answer ``decision``: the one place they are made, so that the live
    judging agent (:mod:`streams.judging`), which publishes them, and a replay, which
    appends them, give an event id one content.

    A JudgeFailed for a failure, under the id (decision id, judge version); else the
    JudgeVerdict under that id and, when hygiene judged the decision twice and the
    second judgement did not fail, the swapped-order one (``swapped=True``, id with
    ``"swapped"``), whose rationale says how far the scores moved against hygiene's
    ``tolerance``.
    """
    common = {
        "episode_id": decision.episode_id,
        "decision_id": decision.decision_id,
        "judge_version": version,
        "judge_model": result.judge_model,
        "content_hash": result.content_hash,
    }
    if isinstance(result, JudgeFailure):
        return [
            stamper.make(
                JudgeFailed,
                (decision.decision_id, version),
                reason=result.reason,
                error_type=result.error_type,
                attempts=result.attempts,
                **common,
            )
        ]
    events: list[VerdictEvent] = [
        stamper.make(
            JudgeVerdict,
            (decision.decision_id, version),
            rubric_version=result.rubric_version,
            scores=result.scores,
            rationale=result.rationale,
            swapped=False,
            cached=result.cached,
            **common,
        )
    ]
    repeat = result.repeat
    if repeat is not None and repeat.flipped is not None:
        diff = "n/a" if repeat.max_abs_diff is None else f"{repeat.max_abs_diff:.3f}"
        events.append(
            stamper.make(
                JudgeVerdict,
                (decision.decision_id, version, "swapped"),
                rubric_version=result.rubric_version,
                scores=repeat.scores,
                rationale=(
                    f"presentation order swapped: largest score change {diff}, "
                    f"{'flipped' if repeat.flipped else 'stable'} (tolerance {tolerance:g})"
                ),
                swapped=True,
                cached=False,
                **common,
            )
        )
    return events


def with_scores(decisions: pa.Table, scores: dict[str, str]) -> pa.Table:
    """``decisions`` with the new verdicts' scores filled in (vectorised lookup)."""
    if not scores:
        return decisions
    ids = pa.array(list(scores), pa.string())
    values = pa.array(list(scores.values()), pa.string())
    at = pc.index_in(decisions.column("decision_id"), ids)
    fresh = values.take(at)
    merged = pc.coalesce(fresh, decisions.column("scores"))
    position = decisions.schema.get_field_index("scores")
    return decisions.set_column(position, "scores", merged)
