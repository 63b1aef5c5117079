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

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from browser import chromium, ensure_chromium, png_pixels

from dojo.config import Settings
from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec
from dojo.events import (
    AnyEvent,
    DriftAlert,
    DriftWindow,
    EvalReport,
    PolicyVersionPublished,
    Stamper,
    encode,
)
from dojo.replay import ReplayOptions, run_replay
from dojo.reward.weights import DEFAULT_CONFIG
from dojo.store import Received, StoreWriter
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout
from dojo.workers.supervisor import child_environment

pytestmark = pytest.mark.timeout(300)

BEHAVIOURS = ("B-01", "B-08", "B-16")
WINDOWS = 8
VERSIONS = 5
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser() -> Path:
    binary, why = ensure_chromium()
    if binary is None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return binary


def monitoring_events() -> list[AnyEvent]:
    """What the drift agent, the learner and the evaluator publish, over a short while."""
    stamper = Stamper("test-monitoring", clock=lambda: START)
    events: list[AnyEvent] = []
    for b, behaviour in enumerate(BEHAVIOURS):
        for w in range(WINDOWS):
            start = START + timedelta(seconds=30 * w)
            common = {
                "behaviour": behaviour,
                "episode_type": "E-1.2",
                "window_kind": "tumbling",
                "window_start": start,
                "window_end": start + timedelta(seconds=30),
                "reward_version": "r-test",
                "judge_version": "offline@test",
            }
            events.append(
                stamper.make(
                    DriftWindow,
                    (behaviour, w),
                    n=40 + w,
                    agreement=0.8 - 0.05 * w - 0.1 * b,
                    mean_residual=-0.1 + 0.04 * w,
                    psi=0.1,
                    ks=0.1,
                    page_hinkley=0.5 * w,
                    **common,
                )
            )
            if behaviour == "B-08" and w == WINDOWS - 1:
                events.append(
                    stamper.make(
                        DriftAlert,
                        (behaviour, w, "psi"),
                        metric="psi",
                        value=1.4,
                        threshold=0.9,
                        message="B-08|E-1.2: judge distribution moved (PSI 1.40 > 0.90)",
                        **common,
                    )
                )
    for v in range(1, VERSIONS + 1):
        events.append(
            stamper.make(
                PolicyVersionPublished,
                (f"v{v:06d}",),
                policy_version=f"v{v:06d}",
                parent_version=f"v{v - 1:06d}" if v > 1 else None,
                base_model="tiny",
                adapter_path=f"/adapters/v{v:06d}",
                updates=4 * v,
                trajectories=32 * v,
                metrics={
                    "reward_mean": 0.1 + 0.05 * v,
                    "kl_to_reference": 0.001 * v * v,
                    "idle_ratio": 0.2,
                    "policy_lag": 1.0,
                },
            )
        )
    events.append(
        stamper.make(
            EvalReport,
            ("quick-1",),
            report_id="quick-1",
            cadence="quick",
            policy_version=f"v{VERSIONS:06d}",
            stage=1,
            tasks=10,
            metrics={"elicitation_quality": 0.62, "sufficiency_error": 0.2},
            baselines={"random": {"elicitation_quality": 0.2, "sufficiency_error": 0.6}},
            transfer={"B-01": 0.9},
        )
    )
    return events


def store_with_data(tmp: Path) -> Settings:
    store = tmp / "store.duckdb"
    stamper = Stamper("test-env")
    events: list[AnyEvent] = []
    for i in range(12):
        kind = EPISODE_TYPES[i % len(EPISODE_TYPES)]
        spec = EpisodeSpec(episode_type=kind, seed=i, stage=int(kind[2]))
        events += rollout(spec, f"ep-{i:03d}", ReferenceActor("senior", i), stamper)
    events += monitoring_events()
    writer = StoreWriter(store)
    try:
        writer.write([Received(e, encode(e), "test", 0, i) for i, e in enumerate(events)])
    finally:
        writer.close()
    settings = Settings(store_path=store, data_dir=tmp / "data", judge="offline")
    # two reward versions, as two replays leave them
    changed = yaml.safe_load(DEFAULT_CONFIG.read_text())
    changed["transitions"]["plan_to_execute"] = 0.3
    (tmp / "changed.yaml").write_text(yaml.safe_dump(changed))
    asyncio.run(run_replay(settings, ReplayOptions()))
    asyncio.run(run_replay(settings, ReplayOptions(reward_config=tmp / "changed.yaml")))
    return settings


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
