"""``dojo monitor``'s terminal dashboard and its --once/--json forms, on a store with data."""

from __future__ import annotations

import json
from pathlib import Path

from monitor_support import BEHAVIOURS, VERSIONS, WINDOWS, store_with_data
from rich.console import Console
from typer.testing import CliRunner

from dojo.cli import app
from dojo.monitor.source import Monitor
from dojo.monitor.terminal import render, sparkline


def test_sparkline_scales_to_the_range_and_leaves_gaps() -> None:
    assert sparkline([-1.0, 0.0, 1.0], -1.0, 1.0) == "▁▅█"
    assert sparkline([0.2, None, 0.4]) == "▁ █"
    assert sparkline([None, None]) == ""


def test_the_terminal_dashboard_shows_every_part(tmp_path: Path) -> None:
    import asyncio

    settings = store_with_data(tmp_path)

    async def snapshot():  # type: ignore[no-untyped-def]
        async with Monitor(settings) as monitor:
            return await monitor.snapshot()

    state = asyncio.run(snapshot())
    console = Console(record=True, width=140)
    console.print(render(state))
    text = console.export_text()
    for behaviour in BEHAVIOURS:
        assert behaviour in text
    assert f"{len(BEHAVIOURS) * WINDOWS} windows, 1 alerts" in text
    assert "psi" in text  # the alert's check
    assert f"v{VERSIONS:06d}" in text and "idle ratio" in text
    assert "elicitation_quality" in text and "random" in text  # report and its baseline
    assert any(block in text for block in "▁▂▃▄▅▆▇█")
    assert len(state.rewards) == 2

    runner = CliRunner()
    once = runner.invoke(app, ["monitor", "--once", "--json", "--store", str(settings.store.path)])
    assert once.exit_code == 0, once.output
    data = json.loads(once.stdout)
    assert data["drift"]["windows_total"] == len(BEHAVIOURS) * WINDOWS
    assert data["learner"]["versions"] == VERSIONS
    assert data["learner"]["kl"] == state.learner.kl
    refused = runner.invoke(app, ["monitor", "--json", "--store", str(settings.store.path)])
    assert refused.exit_code == 2
