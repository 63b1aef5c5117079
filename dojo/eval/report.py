"""Evaluation results as EvalReport events, and reading reports back from the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dojo.eval.harness import EvalResult
from dojo.eval.metrics import METRICS
from dojo.events import EvalReport, Stamper
from dojo.store.reader import StoreReader


def report_event(result: EvalResult, report_id: str, stamper: Stamper) -> EvalReport:
    """The EvalReport of ``result``; its event id derives from ``report_id`` alone, so a
    report published again (a retry, a restarted evaluator) is stored once."""
    return stamper.make(
        EvalReport,
        (report_id,),
        report_id=report_id,
        cadence=result.cadence,
        policy_version=result.policy_version,
        stage=result.stage,
        tasks=result.tasks,
        metrics=result.metrics,
        baselines=result.baselines,
        transfer=result.transfer,
    )


def cli_report_id(cadence: str, policy_version: str, now: datetime | None = None) -> str:
    """The id of a report made by ``dojo eval``: ``cli-<cadence>-<version>-<UTC time>``."""
    moment = datetime.now(UTC) if now is None else now
    return f"cli-{cadence}-{policy_version}-{moment:%Y%m%dT%H%M%S}"


def report_document(result: EvalResult, report_id: str) -> dict[str, Any]:
    """``dojo eval --json``: the result with its id, and each metric's direction and target."""
    document = {"report_id": report_id, **result.model_dump(mode="json")}
    document["targets"] = {
        name: {"direction": METRICS[name].direction, "target": METRICS[name].target}
        for name in result.metrics
    }
    return document


def parse_report_id(report_id: str) -> tuple[str, str, str] | None:
    """(cadence, mark, run) of an evaluator's report id, ``<cadence>@<mark>/<run>``
    (:class:`dojo.workers.evaluator.EvalJob`); None for other reports (the CLI's)."""
    head, sep, run = report_id.partition("/")
    cadence, at, mark = head.partition("@")
    if not sep or not at:
        return None
    return cadence, mark, run


_REPORTS_SQL = """
SELECT report_id, cadence, policy_version, stage, tasks, metrics, baselines, transfer, produced_at
FROM eval_reports
ORDER BY produced_at DESC
LIMIT ?
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def stored_reports(reader: StoreReader, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` reports in the store, newest first, JSON columns decoded."""
    rows = reader.query(_REPORTS_SQL, [limit]).to_pylist()
    for row in rows:
        for column in ("metrics", "baselines", "transfer"):
            row[column] = _json(row[column]) or {}
        row["produced_at"] = row["produced_at"].isoformat()
    return rows
