"""The web dashboard in headless Chromium: served with data, its charts render and update.

A store holds real episodes and their rewards under two reward versions (two
replays), and the drift windows, alerts, policy versions and evaluation reports
the stream apps, the learner and the evaluator publish. ``dojo dashboard``
serves it; Chromium loads the page (nothing may come from the internet), runs
its scripts, and the DOM it dumps must hold the charts with their data points;
a screenshot must show them (not a blank page). Chromium is Debian's package,
installed by the fixture when absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import chromium, ensure_chromium, png_pixels
from monitor_support import BEHAVIOURS, VERSIONS, WINDOWS, store_with_data

from dojo.config import Settings
from dojo.eval.metrics import PRIMARY_NAMES
from dojo.workers.supervisor import child_environment

pytestmark = [pytest.mark.timeout(300), pytest.mark.system]


@pytest.fixture(scope="module")
def browser() -> Path:
    binary, why = ensure_chromium()
    if binary is None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return binary


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = store_with_data(tmp_path)
    env = {**child_environment(settings), "DOJO_MONITOR_REFRESH_S": "0.5"}
    log = tmp_path / "dashboard.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dojo", "dashboard", "--port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            assert process.poll() is None, log.read_text()
            found = re.search(r"dashboard ready on (http://\S+)", log.read_text())
            url = found.group(1) if found else None
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.1)
        yield settings, url
    finally:
        process.terminate()
        process.wait(30)


def test_the_dashboard_renders_its_charts_in_chromium(
    browser: Path, served: tuple[Settings, str], tmp_path: Path
) -> None:
    _, url = served
    page = httpx.get(url).text
    # self-contained: no script, style or image is fetched from anywhere
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)

    dom = chromium(browser, tmp_path / "profile", url, "--dump-dom", budget_ms=5000)
    drift = re.findall(r'<svg[^>]*class="chart drift-chart"[^>]*>(.*?)</svg>', dom, re.S)
    assert len(drift) == len(BEHAVIOURS)
    for chart in drift:
        # agreement and residual: one point per window each
        assert chart.count('class="pt"') == 2 * WINDOWS
        assert chart.count("<polyline") == 2
    rewards = re.findall(r'<svg[^>]*class="chart rewards-chart"[^>]*>(.*?)</svg>', dom, re.S)
    assert len(rewards) == 1
    assert len(set(re.findall(r'data-series="(r-[0-9a-f]+)"', rewards[0]))) == 2
    assert rewards[0].count('class="pt"') >= 2
    learner = re.findall(r'<svg[^>]*class="chart learner-chart"[^>]*>(.*?)</svg>', dom, re.S)
    assert len(learner) == 2  # reward and KL per policy version
    assert all(chart.count('class="pt"') == VERSIONS for chart in learner)
    # progress: a chart per primary metric over the reports (one per policy version),
    # the subject's line and its baselines', the target dashed, x labelled by version
    progress = dict(
        re.findall(
            r'<div class="sm" data-metric="([a-z_]+)">.*?'
            r'<svg[^>]*class="chart progress-chart"[^>]*>(.*?)</svg>',
            dom,
            re.S,
        )
    )
    assert list(progress) == list(PRIMARY_NAMES)
    quality = progress["elicitation_quality"]
    series = re.findall(r'<circle[^>]*class="pt" data-series="([a-z_]+)"', quality)
    # v1..v4 report every baseline (prompt-only missing at v2); the last (v5) random only
    assert {name: series.count(name) for name in set(series)} == {
        "subject": VERSIONS, "base_model": VERSIONS - 1, "prompt_only": VERSIONS - 2,
        "scripted_senior": VERSIONS - 1, "random": VERSIONS,
    }  # fmt: skip
    assert quality.count("<polyline") == 5
    assert quality.count('class="target"') == 1
    ticks = re.findall(r'class="tick">(v\d+)</text>', quality)
    assert ticks[0] == "v000001" and ticks[-1] == f"v{VERSIONS:06d}"
    # never measured: no point drawn (not a zero), the target still there
    assert 'class="pt"' not in progress["research_effectiveness"]
    assert 'class="target"' in progress["research_effectiveness"]
    assert "judge distribution moved" in dom  # the alert
    assert "elicitation_quality" in dom and "quick" in dom  # the evaluation report
    # the page keeps polling /api/state and redrawing
    rendered = int(re.search(r'data-rendered="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    assert rendered >= 2

    shot = tmp_path / "dashboard.png"
    chromium(
        browser,
        tmp_path / "profile",
        url,
        f"--screenshot={shot}",
        "--window-size=1000,900",
        "--hide-scrollbars",
        budget_ms=3000,
    )
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1000, 900)
    channels = len(rows[0]) // width
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), channels)]
    background = max(set(pixels[::97]), key=pixels[::97].count)
    share = sum(1 for p in pixels if p == background) / len(pixels)
    assert share < 0.9, f"the screenshot is {share:.0%} one colour"
    assert len(set(pixels)) > 50
    agreement_blue = bytes((0x4F, 0xC3, 0xF7))
    assert agreement_blue in set(pixels), "no drift agreement line drawn"

    tall = tmp_path / "progress.png"  # the progress charts sit further down the page
    chromium(
        browser,
        tmp_path / "profile",
        url,
        f"--screenshot={tall}",
        "--window-size=1000,2400",
        "--hide-scrollbars",
        budget_ms=3000,
    )
    width, _, rows = png_pixels(tall)
    channels = len(rows[0]) // width
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), channels)}
    subject_green = bytes((0x00, 0xE6, 0x76))
    assert subject_green in colours, "no subject line drawn in the progress charts"


def test_metrics_and_state_endpoints(served: tuple[Settings, str]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, url = served
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)}
    assert families["dojo_drift_windows"].samples[0].value == len(BEHAVIOURS) * WINDOWS
    alerts = {s.labels["behaviour"]: s.value for s in families["dojo_drift_alerts"].samples}
    assert alerts["B-08"] == 1
    assert families["dojo_learner_reward"].samples[0].value == pytest.approx(0.1 + 0.05 * VERSIONS)
    assert families["dojo_learner_idle_ratio"].samples[0].value == pytest.approx(0.2)
    assert families["dojo_learner_policy_lag"].samples[0].value == pytest.approx(1.0)
    assert families["dojo_policy_versions"].samples[0].value == VERSIONS
    assert len(families["dojo_rewards"].samples) == 2
    assert "dojo_events_per_second" in families and "dojo_store_lag_seconds" in families
    # no broker here: consumer lag is unknown, so it is not reported at all (never a zero)
    assert "dojo_consumer_lag_messages" not in families
    state = httpx.get(f"{url}/api/state").json()
    assert len(state["drift"]["series"]) == len(BEHAVIOURS)
    assert state["pipeline"]["consumer_lag"] is None
