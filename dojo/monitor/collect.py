"""A :class:`~dojo.monitor.state.MonitorState` from the store (and what runs beside it).

Every query is a single SELECT, so it runs against the store file or through
a live sink's query endpoint alike (:func:`dojo.store.open_store`), and each is
bounded (latest windows, downsampled series): a dashboard refreshing every
couple of seconds must not load the sink.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from dojo.eval.harness import BASELINES
from dojo.eval.metrics import METRICS, PRIMARY_NAMES
from dojo.eval.report import parse_report_id
from dojo.monitor.state import (
    AlertRow,
    DriftPoint,
    DriftSeries,
    DriftView,
    EvalView,
    JudgeView,
    LearnerView,
    MonitorState,
    PipelineView,
    PolicyPoint,
    ProgressPoint,
    ProgressSeries,
    ProgressView,
    RewardPoint,
    RewardVersionView,
    UpdatePoint,
)
from dojo.store import StoreReader

#: windows per behaviour in a sparkline
DRIFT_POINTS = 40
ALERTS = 20
REWARD_POINTS = 60
POLICY_POINTS = 200
EVAL_REPORTS = 5
#: reports in the progress curves (each primary metric over policy versions)
PROGRESS_REPORTS = 50
RATE_WINDOW_S = 60.0
LAG_EVENTS = 1000

_DRIFT_SQL = f"""
SELECT event_id::VARCHAR AS event_id, behaviour, episode_type, window_start, window_end, n,
       agreement, mean_residual
FROM (SELECT *, row_number() OVER (PARTITION BY behaviour, episode_type
                                   ORDER BY window_end DESC) AS age
      FROM drift_windows)
WHERE age <= {DRIFT_POINTS}
"""

#: mean scalar per time bucket and version: hash aggregation, no sort of the whole table
_REWARDS_SQL = f"""
WITH span AS (
    SELECT reward_version, min(epoch(produced_at)) AS t0, max(epoch(produced_at)) AS t1
    FROM rewards GROUP BY reward_version
)
SELECT r.reward_version,
       least({REWARD_POINTS - 1}, floor((epoch(r.produced_at) - s.t0)
             / greatest((s.t1 - s.t0) / {REWARD_POINTS}, 1e-9)))::INTEGER AS bucket,
       max(r.produced_at) AS at, avg(r.scalar) AS mean, count(*) AS n
FROM rewards r JOIN span s USING (reward_version)
GROUP BY r.reward_version, bucket ORDER BY r.reward_version, bucket
"""

_PIPELINE_SQL = f"""
SELECT (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM events
        WHERE stored_at > now() - INTERVAL {int(RATE_WINDOW_S)} SECOND) AS recent,
       (SELECT epoch(now()) - epoch(min(stored_at)) FROM events) AS age_s,
       (SELECT avg(epoch(stored_at) - epoch(produced_at))
        FROM (SELECT stored_at, produced_at FROM events
              ORDER BY stored_at DESC LIMIT {LAG_EVENTS})) AS lag_s,
       (SELECT count(*) FROM episodes WHERE completed_event_id IS NOT NULL) AS episodes,
       (SELECT count(*) FROM dead_letters) AS dead_letters
"""


def _rows(
    reader: StoreReader, sql: str, params: list[object] | None = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = reader.query(sql, params).to_pylist()
    return rows


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pipeline(reader: StoreReader) -> PipelineView:
    row = _rows(reader, _PIPELINE_SQL)[0]
    by_type = _rows(reader, "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type")
    rate = None
    if row["age_s"] is not None:  # the store's clock: its writer's, on this machine
        span = min(RATE_WINDOW_S, float(row["age_s"]))
        rate = row["recent"] / span if span > 0 else None
    return PipelineView(
        events_stored=int(row["events"]),
        events_by_type={r["type"]: int(r["n"]) for r in by_type},
        events_per_s=rate,
        rate_window_s=RATE_WINDOW_S,
        store_lag_s=None if row["lag_s"] is None else float(row["lag_s"]),
        episodes_completed=int(row["episodes"]),
        dead_letters=int(row["dead_letters"]),
    )


class WindowRow(BaseModel):
    """One stored (or live) DriftWindow, as the dashboard pools it."""

    event_id: str
    behaviour: str
    episode_type: str
    window_start: datetime
    window_end: datetime
    n: int
    agreement: float | None
    mean_residual: float | None


def pool(windows: list[WindowRow], alerts: list[AlertRow], totals: tuple[int, int]) -> DriftView:
    """Per behaviour (components and episode types pooled, n-weighted), the latest windows."""
    cells: dict[tuple[str, datetime, datetime], list[WindowRow]] = {}
    for w in {w.event_id: w for w in windows}.values():
        cells.setdefault((w.behaviour.split("/", 1)[0], w.window_start, w.window_end), []).append(w)
    series: dict[str, DriftSeries] = {}
    for (behaviour, start, end), rows in sorted(cells.items(), key=lambda c: (c[0][0], c[0][2])):
        entry = series.setdefault(behaviour, DriftSeries(behaviour=behaviour, windows=0, points=[]))
        entry.windows += 1
        entry.points.append(
            DriftPoint(
                window_start=start,
                window_end=end,
                n=sum(r.n for r in rows),
                agreement=_weighted(rows, "agreement"),
                mean_residual=_weighted(rows, "mean_residual"),
            )
        )
    for entry in series.values():
        entry.points = entry.points[-DRIFT_POINTS:]
    for alert in alerts:
        behaviour = alert.behaviour.split("/", 1)[0]
        series.setdefault(behaviour, DriftSeries(behaviour=behaviour, windows=0, points=[]))
        series[behaviour].alerts += 1
    return DriftView(
        windows_total=totals[0],
        alerts_total=totals[1],
        series=[series[b] for b in sorted(series)],
        alerts=sorted(alerts, key=lambda a: a.produced_at, reverse=True)[:ALERTS],
    )


def _weighted(rows: list[WindowRow], field: str) -> float | None:
    present = [(getattr(r, field), r.n) for r in rows if getattr(r, field) is not None]
    weight = sum(n for _, n in present)
    return sum(v * n for v, n in present) / weight if weight else None


def drift_rows(reader: StoreReader) -> tuple[list[WindowRow], list[AlertRow], tuple[int, int]]:
    """The latest stored windows per group, the latest alerts, and the totals stored."""
    windows = [
        WindowRow(
            **{**r, "window_start": _utc(r["window_start"]), "window_end": _utc(r["window_end"])}
        )
        for r in _rows(reader, _DRIFT_SQL)
    ]
    alerts = _rows(
        reader,
        "SELECT produced_at, behaviour, episode_type, metric, value, threshold, message "
        f"FROM drift_alerts ORDER BY produced_at DESC LIMIT {ALERTS}",
    )
    totals = _rows(
        reader,
        "SELECT (SELECT count(*) FROM drift_windows) AS windows, "
        "(SELECT count(*) FROM drift_alerts) AS alerts",
    )[0]
    return (
        windows,
        [AlertRow(**{**a, "produced_at": _utc(a["produced_at"])}) for a in alerts],
        (int(totals["windows"]), int(totals["alerts"])),
    )


def drift(
    reader: StoreReader, live: tuple[list[WindowRow], list[AlertRow]] | None = None
) -> DriftView:
    """The stored drift windows and alerts, with those read live off the topic (``live``)."""
    windows, alerts, totals = drift_rows(reader)
    if live is None:
        return pool(windows, alerts, totals)
    known = {(a.produced_at, a.behaviour, a.episode_type, a.metric) for a in alerts}
    fresh = [
        a for a in live[1] if (a.produced_at, a.behaviour, a.episode_type, a.metric) not in known
    ]
    view = pool(windows + live[0], alerts + fresh, totals)
    view.followed_live = True
    return view


def rewards(reader: StoreReader) -> list[RewardVersionView]:
    summary = _rows(
        reader,
        "SELECT reward_version, count(*) AS n, avg(scalar) AS mean, min(produced_at) AS first, "
        "max(produced_at) AS last FROM rewards GROUP BY reward_version ORDER BY last",
    )
    points: dict[str, list[RewardPoint]] = {}
    for row in _rows(reader, _REWARDS_SQL):
        points.setdefault(row["reward_version"], []).append(
            RewardPoint(at=_utc(row["at"]), mean=float(row["mean"]), n=int(row["n"]))
        )
    return [
        RewardVersionView(
            reward_version=row["reward_version"],
            rows=int(row["n"]),
            mean=row["mean"],
            first=row["first"] and _utc(row["first"]),
            last=row["last"] and _utc(row["last"]),
            points=points.get(row["reward_version"], []),
        )
        for row in summary
    ]


def metric(metrics: dict[str, float], *names: str) -> float | None:
    """The first of ``names`` the learner reported (exact names first, then by substring)."""
    for name in names:
        if name in metrics:
            return metrics[name]
    for name in names:
        for key, value in sorted(metrics.items()):
            if name in key:
                return value
    return None


def learner(reader: StoreReader) -> LearnerView:
    rows = _rows(
        reader,
        "SELECT * FROM (SELECT policy_version, produced_at, updates, trajectories, "
        "metrics::VARCHAR AS metrics FROM policy_versions "
        f"ORDER BY produced_at DESC, policy_version DESC LIMIT {POLICY_POINTS}) "
        "ORDER BY produced_at, policy_version",
    )
    total = _rows(reader, "SELECT count(*) AS n FROM policy_versions")[0]["n"]
    history = [
        PolicyPoint(
            policy_version=r["policy_version"],
            produced_at=_utc(r["produced_at"]),
            updates=int(r["updates"]),
            trajectories=int(r["trajectories"]),
            metrics=_numbers(r["metrics"]),
        )
        for r in rows
    ]
    latest = history[-1] if history else None
    updates, update_count = learner_updates(reader)
    # the headline figures: the latest update's when the learner reports updates,
    # else what the latest policy version was published with
    metrics = updates[-1].metrics if updates else latest.metrics if latest else {}
    return LearnerView(
        versions=int(total),
        latest=latest,
        history=history,
        update_count=update_count,
        updates=updates,
        reward=metric(metrics, "reward_mean", "mean_reward", "reward"),
        kl=metric(metrics, "kl_to_reference", "kl"),
        idle_ratio=metric(metrics, "idle_ratio", "idle"),
        policy_lag=metric(metrics, "policy_lag", "lag"),
    )


def _numbers(raw: str | None) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in json.loads(raw or "{}").items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def learner_updates(reader: StoreReader) -> tuple[list[UpdatePoint], int]:
    """The latest learner updates (oldest first) and how many there are; none in a store
    whose schema predates them."""
    exists = _rows(
        reader,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'learner_updates'",
    )[0]["n"]
    if not exists:
        return [], 0
    rows = _rows(
        reader,
        'SELECT * FROM (SELECT "update", lineage, produced_at, policy_version, decisions, '
        "metrics::VARCHAR AS metrics FROM learner_updates "
        f'ORDER BY produced_at DESC, "update" DESC LIMIT {POLICY_POINTS}) '
        'ORDER BY produced_at, "update"',
    )
    total = _rows(reader, "SELECT count(*) AS n FROM learner_updates")[0]["n"]
    return [
        UpdatePoint(
            update=int(r["update"]),
            lineage=r["lineage"],
            produced_at=_utc(r["produced_at"]),
            policy_version=r["policy_version"],
            decisions=int(r["decisions"]),
            metrics=_numbers(r["metrics"]),
        )
        for r in rows
    ], int(total)


def evaluation(reader: StoreReader) -> list[EvalView]:
    rows = _rows(
        reader,
        "SELECT report_id, cadence, policy_version, stage, tasks, produced_at, "
        "metrics::VARCHAR AS metrics, baselines::VARCHAR AS baselines, "
        f"transfer::VARCHAR AS transfer FROM eval_reports ORDER BY produced_at DESC "
        f"LIMIT {EVAL_REPORTS}",
    )
    return [
        EvalView(
            report_id=r["report_id"],
            cadence=r["cadence"],
            policy_version=r["policy_version"],
            stage=int(r["stage"]),
            tasks=int(r["tasks"]),
            produced_at=_utc(r["produced_at"]),
            metrics=json.loads(r["metrics"] or "{}"),
            baselines=json.loads(r["baselines"] or "{}"),
            transfer=json.loads(r["transfer"] or "{}"),
        )
        for r in rows
    ]


_PROGRESS_SQL = f"""
SELECT * FROM (SELECT report_id, cadence, policy_version, produced_at,
                      metrics::VARCHAR AS metrics, baselines::VARCHAR AS baselines
               FROM eval_reports ORDER BY produced_at DESC, report_id DESC
               LIMIT {PROGRESS_REPORTS})
ORDER BY produced_at, report_id
"""


def episode_mark(report_id: str) -> int | None:
    """The episode count an evaluator's report was made at; None for a comprehensive
    report (``@stage<n>``) or one made by hand."""
    parsed = parse_report_id(report_id)
    return int(parsed[1]) if parsed is not None and parsed[1].isdigit() else None


def _measured(value: object) -> float | None:
    """A measured number, or None (absent, null, not a number): never a made-up zero."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def progress(reader: StoreReader) -> ProgressView:
    """Each primary metric over the latest reports (every cadence), oldest first: the
    subject's value and each baseline's, with the report's policy version and mark."""
    rows = _rows(reader, _PROGRESS_SQL)
    total = _rows(reader, "SELECT count(*) AS n FROM eval_reports")[0]["n"]
    reports = [
        (r, json.loads(r["metrics"] or "{}"), json.loads(r["baselines"] or "{}")) for r in rows
    ]
    extra = sorted({b for _, _, baselines in reports for b in baselines} - set(BASELINES))
    names = [*BASELINES, *extra]
    series = []
    for name in PRIMARY_NAMES:
        info = METRICS[name]
        points = [
            ProgressPoint(
                report_id=r["report_id"],
                cadence=r["cadence"],
                policy_version=r["policy_version"],
                produced_at=_utc(r["produced_at"]),
                episodes=episode_mark(r["report_id"]),
                value=_measured(metrics.get(name)),
                baselines={b: _measured((baselines.get(b) or {}).get(name)) for b in names},
            )
            for r, metrics, baselines in reports
        ]
        series.append(
            ProgressSeries(metric=name, direction=info.direction, target=info.target, points=points)
        )
    return ProgressView(reports=int(total), baselines=names, series=series)


def judge(reader: StoreReader) -> JudgeView:
    statuses = _rows(
        reader,
        "SELECT status, judge_version, count(*) AS n FROM verdicts "
        "WHERE NOT coalesce(swapped, false) GROUP BY 1, 2",
    )
    failures = _rows(
        reader,
        "SELECT error_type, count(*) AS n FROM verdicts WHERE status = 'failed' GROUP BY 1",
    )
    view = JudgeView()
    for row in statuses:
        n = int(row["n"])
        view.by_version[row["judge_version"]] = view.by_version.get(row["judge_version"], 0) + n
        if row["status"] == "ok":
            view.verdicts += n
        else:
            view.failures += n
    view.failures_by_type = {r["error_type"] or "unknown": int(r["n"]) for r in failures}
    view.gap = view.failures
    answered = view.verdicts + view.failures
    view.gap_share = view.failures / answered if answered else None
    view.circuit_open = view.failures_by_type.get("CircuitOpen", 0)
    return view


def collect(
    reader: StoreReader,
    store: str,
    now: datetime | None = None,
    live_drift: tuple[list[WindowRow], list[AlertRow]] | None = None,
) -> MonitorState:
    """Everything the store can tell (plus drift read live off the topic, when given);
    a part that fails to read is named in ``problems``."""
    state = MonitorState(generated_at=now or datetime.now(UTC), store=store)
    parts: dict[str, Callable[[StoreReader], Any]] = {
        "pipeline": pipeline,
        "drift": lambda r: drift(r, live_drift),
        "rewards": rewards,
        "learner": learner,
        "evaluation": evaluation,
        "progress": progress,
        "judge": judge,
    }
    for name, read in parts.items():
        try:
            setattr(state, name, read(reader))
        except Exception as exc:  # one broken part must not blank the whole dashboard
            state.problems.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
    return state
