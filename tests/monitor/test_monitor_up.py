"""A short ``dojo up``, watched live through its dashboard, then ``dojo monitor --once --json``.

While the run goes, its dashboard service (part of ``dojo up``) must export the
judge latency of the live scoring worker and every consumer group's lag; once
it has ended, the monitor must show the drift windows the scoring app closed,
the rewards, the judge's verdicts and — when ``dojo up`` runs a learner — the
learner's metrics, all from the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dojo.config import Settings
from dojo.workers.services import SERVICES
from streams.adverts import live_adverts

pytestmark = [pytest.mark.timeout(400), pytest.mark.system]

MINUTES = 0.6  # long enough for the dashboard to see the scoring worker at work


def test_monitor_after_a_short_dojo_up(tmp_path: Path) -> None:
    store, data = tmp_path / "store.duckdb", tmp_path / "data"
    env = {
        **os.environ,
        "DOJO_STORE_PATH": str(store),
        "DOJO_DATA_DIR": str(data),
        "DOJO_POLICY": "senior",  # scripted: quick episodes
        "DOJO_ENV_WORKERS": "1",
        "DOJO_DRIFT_WINDOW_S": "3",
        "DOJO_DRIFT_LATENESS_S": "1",
        "DOJO_DRIFT_MIN_PAIRS": "4",
        "DOJO_EVAL_QUICK_EVERY": "0",
        "DOJO_EVAL_FULL_EVERY": "0",
        "DOJO_CURRICULUM_AUTO": "false",
        "DOJO_MONITOR_REFRESH_S": "0.5",
    }
    env.pop("DOJO_KAFKA_BOOTSTRAP", None)  # dojo up starts its own broker
    up = subprocess.Popen(
        [sys.executable, "-m", "dojo", "up", "--minutes", str(MINUTES), "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        live = watch_dashboard(Settings(data_dir=data, store_path=store), up)
        # a monitor started beside the run finds its embedded broker on its own
        beside = subprocess.run(
            [sys.executable, "-m", "dojo", "monitor", "--once", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output, errors = up.communicate(timeout=300)
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(60)
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["status"] == "ok", errors[-3000:]
    assert summary["episodes"] > 0

    assert beside.returncode == 0, beside.stderr
    running = json.loads(beside.stdout)
    assert running["pipeline"]["consumer_lag"]  # read off the broker: groups and their lag
    assert running["drift"]["followed_live"]

    # the live run, as its dashboard exported it
    assert live["dojo_judge_latency_seconds"] > 0  # judge calls timed in the scoring worker
    assert {"sink", "scoring"} <= set(live["groups"])

    done = subprocess.run(
        [sys.executable, "-m", "dojo", "monitor", "--once", "--json", "--store", str(store)],
        env={k: v for k, v in env.items() if k != "DOJO_KAFKA_BOOTSTRAP"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert not state["problems"], state["problems"]
    drift = state["drift"]
    assert drift["windows_total"] > 0
    assert drift["series"] and all(s["points"] for s in drift["series"])
    assert any(p["mean_residual"] is not None for s in drift["series"] for p in s["points"])
    assert state["pipeline"]["episodes_completed"] == summary["episodes"]
    assert state["pipeline"]["events_stored"] == summary["events_stored"]
    assert state["judge"]["verdicts"] > 0
    assert state["rewards"] and state["rewards"][0]["rows"] > 0
    learner = state["learner"]
    assert set(learner) >= {"versions", "latest", "history", "reward", "kl", "idle_ratio"}
    # the run's own settings decide whether it had a learner (a scripted policy has none)
    if any(
        s.name == "learner" and s.enabled(Settings(policy=env["DOJO_POLICY"])) for s in SERVICES
    ):
        assert learner["versions"] >= 1 and learner["latest"]["metrics"]


def watch_dashboard(settings: Settings, up: subprocess.Popen[str]) -> dict[str, object]:
    """Poll the run's dashboard until it exports timed judge calls and every group's lag."""
    deadline = time.monotonic() + 300
    seen: dict[str, object] = {"dojo_judge_latency_seconds": 0.0, "groups": []}
    while time.monotonic() < deadline and up.poll() is None:
        adverts = live_adverts(settings, "dashboard")
        if adverts:
            try:
                text = httpx.get(f"{adverts[0].url}/metrics", timeout=5).text
            except httpx.HTTPError:
                text = ""  # stopping with the run
            for family in text_string_to_metric_families(text):
                if family.name == "dojo_judge_latency_seconds":
                    count = next(s.value for s in family.samples if s.name.endswith("_count"))
                    seen["dojo_judge_latency_seconds"] = count
                if family.name == "dojo_consumer_lag_messages":
                    seen["groups"] = [s.labels["group"] for s in family.samples]
            # the broker lists a group once it has committed: wait for both, not the first
            if seen["dojo_judge_latency_seconds"] and {"sink", "scoring"} <= set(seen["groups"]):  # type: ignore[arg-type]
                return seen
        time.sleep(0.5)
    return seen
