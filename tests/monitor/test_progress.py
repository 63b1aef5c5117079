"""Progress is visible: each primary metric over policy versions, the subject's and its
baselines', in the snapshot, the terminal, the web dashboard and the Prometheus metrics.

A real store holds evaluator reports of increasing policy versions (quick and full, and
a comprehensive one, stored out of their produced order); the monitor reads them back.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from monitor_support import BASELINE_VALUES, START, elicitation, progress_reports
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from dojo.config import Settings
from dojo.eval.metrics import METRICS, PRIMARY_NAMES
from dojo.events import AnyEvent, EvalReport, Stamper, encode
from dojo.monitor.collect import PROGRESS_REPORTS, collect
from dojo.monitor.prometheus import exposition
from dojo.monitor.source import Monitor
from dojo.monitor.state import MonitorState
from dojo.monitor.terminal import render
from dojo.monitor.web import make_app
from dojo.store import Received, StoreWriter, open_store

VERSIONS = 5
BASELINES = ("base_model", "prompt_only", "scripted_senior", "random")


def _stamper() -> Stamper:
    ticks = iter(range(100_000))
    return Stamper("test-eval", clock=lambda: START + timedelta(seconds=next(ticks)))


def _store(tmp: Path, events: list[AnyEvent]) -> Settings:
    store = tmp / "store.duckdb"
    writer = StoreWriter(store)
    try:
        # stored latest first: the series must follow the produced order, not the stored one
        received = [Received(e, encode(e), "test", 0, i) for i, e in enumerate(events)]
        writer.write(received[::-1])
    finally:
        writer.close()
    return Settings(store_path=store, data_dir=tmp / "data", judge="offline")


def _reports(stamper: Stamper, versions: int = VERSIONS) -> list[AnyEvent]:
    events: list[AnyEvent] = [*progress_reports(stamper, range(1, versions + 1))]
    events.append(  # at a stage change: no episode mark in its id
        stamper.make(
            EvalReport,
            ("comprehensive", versions),
            report_id="comprehensive@stage1/run-1",
            cadence="comprehensive",
            policy_version=f"v{versions:06d}",
            stage=1,
            tasks=120,
            metrics={"elicitation_quality": 0.71, "sufficiency_error": 0.12},
            baselines={"base_model": {"elicitation_quality": 0.33}},
        )
    )
    return events


def _state(settings: Settings) -> MonitorState:
    reader = open_store(settings.store.path)
    try:
        return collect(reader, str(settings.store.path))
    finally:
        reader.close()


def test_each_primary_metric_is_a_series_over_the_reports(tmp_path: Path) -> None:
    state = _state(_store(tmp_path, _reports(_stamper())))
    assert not state.problems
    progress = state.progress
    assert progress.reports == VERSIONS + 1
    assert progress.baselines == list(BASELINES)
    assert [s.metric for s in progress.series] == list(PRIMARY_NAMES)
    for series in progress.series:
        assert series.direction == METRICS[series.metric].direction
        assert series.target == METRICS[series.metric].target
        # one point per report, in produced order, with its version, cadence and mark
        assert [p.policy_version for p in series.points] == [
            *(f"v{v:06d}" for v in range(1, VERSIONS + 1)),
            f"v{VERSIONS:06d}",
        ]
        assert [p.cadence for p in series.points] == [
            "quick", "quick", "full", "quick", "quick", "comprehensive"
        ]  # fmt: skip
        assert [p.episodes for p in series.points] == [100, 200, 300, 400, 500, None]

    by_metric = {s.metric: s.points for s in progress.series}
    quality = by_metric["elicitation_quality"]
    assert [p.value for p in quality] == [*(elicitation(v) for v in range(1, 6)), 0.71]
    for name, value in BASELINE_VALUES.items():
        expected = [None if (v == 2 and name == "prompt_only") else value for v in range(1, 6)]
        assert [p.baselines[name] for p in quality[:-1]] == expected, name
    # the comprehensive report measured the base model only
    assert quality[-1].baselines == {
        "base_model": 0.33, "prompt_only": None, "scripted_senior": None, "random": None
    }  # fmt: skip
    intent = by_metric["intent_match"]
    assert intent[0].value is None  # reported as null: not measured, not zero
    assert intent[1].value == 0.6 and intent[1].baselines["prompt_only"] is None
    # never measured (null, or absent from the report): None everywhere, never 0
    for name in ("research_effectiveness", "decomposition_accuracy"):
        for point in by_metric[name]:
            assert point.value is None
            assert set(point.baselines.values()) == {None}
    assert [p.value for p in by_metric["sufficiency_error"]] == [None] * VERSIONS + [0.12]


def test_the_series_keeps_the_latest_reports(tmp_path: Path) -> None:
    many = PROGRESS_REPORTS + 7
    state = _state(_store(tmp_path, list(progress_reports(_stamper(), range(1, many + 1)))))
    assert state.progress.reports == many
    points = state.progress.series[0].points
    assert len(points) == PROGRESS_REPORTS
    assert points[0].policy_version == f"v{many - PROGRESS_REPORTS + 1:06d}"
    assert points[-1].policy_version == f"v{many:06d}"


def test_the_terminal_shows_progress_over_versions(tmp_path: Path) -> None:
    state = _state(_store(tmp_path, list(progress_reports(_stamper(), range(1, VERSIONS + 1)))))
    console = Console(record=True, width=100)
    console.print(render(state))
    text = console.export_text()
    assert "progress over policy versions" in text
    assert f"v000001 → v{VERSIONS:06d}" in text  # the versions the curves run over
    assert "v000004 quick@400 · v000005 quick@500" in text  # the latest reports named
    # per metric on one line: target, the subject's curve, latest, base model, senior, gap
    line = next(row for row in text.splitlines() if "elicitation_quality" in row)
    latest = elicitation(VERSIONS)
    assert re.search(
        rf"> 0\.70  [▁▂▃▄▅▆▇█]{{{VERSIONS}}}\s+{latest:.2f}\s+0\.35\s+0\.80\s+"
        rf"▲ \+{latest - 0.35:.2f}",
        line,
    ), line
    intent = next(row for row in text.splitlines() if "intent_match" in row)
    assert re.search(r"> 0\.75   [▁▂▃▄▅▆▇█]{4} ", intent), intent  # v1 unmeasured: a gap
    assert all(len(row) <= 100 for row in text.splitlines())


def test_prometheus_reports_the_latest_primary_metrics(tmp_path: Path) -> None:
    state = _state(_store(tmp_path, _reports(_stamper())))
    families = {
        f.name: f for f in text_string_to_metric_families(exposition(lambda: state).decode())
    }
    assert families["dojo_eval_reports"].samples[0].value == VERSIONS + 1
    gauges = {
        (s.labels["metric"], s.labels["policy"]): s.value
        for s in families["dojo_eval_primary_metric"].samples
    }
    # the latest report (comprehensive): what it measured, nothing it did not
    assert gauges == {
        ("elicitation_quality", "subject"): 0.71,
        ("elicitation_quality", "base_model"): 0.33,
        ("sufficiency_error", "subject"): 0.12,
    }


async def test_the_dashboard_serves_the_series_and_draws_a_chart_per_metric(
    tmp_path: Path,
) -> None:
    settings = _store(tmp_path, _reports(_stamper()))
    client = TestClient(TestServer(make_app(Monitor(settings, broker=False), refresh_s=60)))
    await client.start_server()
    try:
        page = await (await client.get("/")).text()
        served = await (await client.get("/api/state")).json()
    finally:
        await client.close()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained
    embedded = re.search(
        r'<script id="initial-state" type="application/json">(.*?)</script>', page, re.S
    )
    assert embedded is not None
    for snapshot in (json.loads(embedded.group(1)), served):
        series = {s["metric"]: s["points"] for s in snapshot["progress"]["series"]}
        assert list(series) == list(PRIMARY_NAMES)
        quality = series["elicitation_quality"]
        assert [p["policy_version"] for p in quality][:VERSIONS] == [
            f"v{v:06d}" for v in range(1, VERSIONS + 1)
        ]
        assert quality[0]["baselines"]["scripted_senior"] == 0.8
        assert quality[1]["baselines"]["prompt_only"] is None
    # the page draws them: a chart per metric, a line per policy, the target dashed,
    # the x axis labelled by policy version
    assert 'id="progress"' in page
    assert "renderProgress(s.progress)" in page
    assert 'lineChart("progress-chart"' in page
    assert "for (const m of progress.series)" in page
    assert 'class: "target"' in page and "target: m.target" in page
    assert "xTicks: ticks" in page and "policy_version" in page
    for name in ("subject", *BASELINES):
        assert f"{name}:" in page.split("PROGRESS_COLORS = {", 1)[1].split("}", 1)[0]
