"""``dojo up`` runs the evaluator: with small cadence counts, EvalReport rows reach the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dojo.config import Settings
from dojo.eval.report import stored_reports
from dojo.store import open_store

pytestmark = pytest.mark.system


def test_dojo_up_with_small_cadences_stores_eval_reports(
    tmp_path: Path, eval_settings: Settings
) -> None:
    store = tmp_path / "store.duckdb"
    env = {
        **os.environ,
        "DOJO_POLICY": "senior",
        "DOJO_ENV_WORKERS": "1",
        "DOJO_DATA_DIR": str(eval_settings.data_dir),  # the tiny base, built once per session
        "DOJO_STORE_PATH": str(store),
        "DOJO_TOPIC_PREFIX": "up-eval",
        "DOJO_EVAL_QUICK_EVERY": "2",
        "DOJO_EVAL_FULL_EVERY": "0",
        "DOJO_EVAL_QUICK_TASKS": "1",
        "DOJO_EVAL_PHASE_BUDGET": "1.0",
        "DOJO_EVAL_MAX_TEXT_TOKENS": "4",
    }
    env.pop("DOJO_KAFKA_BOOTSTRAP", None)  # dojo up starts its own broker
    done = subprocess.run(
        [sys.executable, "-m", "dojo", "up", "--episodes", "4", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ok" and summary["episodes"] == 4
    evaluator_log = Path(summary["logs"]) / "evaluator.log"
    assert "evaluator ready" in evaluator_log.read_text()
    reader = open_store(store)
    try:
        reports = stored_reports(reader)
    finally:
        reader.close()
    assert reports, evaluator_log.read_text()[-2000:]
    assert {r["cadence"] for r in reports} == {"quick"}
    newest = reports[0]
    assert newest["report_id"].startswith("quick@000004/")
    assert newest["policy_version"] == "reference-senior"
    assert set(newest["baselines"]) == {"base_model", "prompt_only", "scripted_senior", "random"}
    assert newest["metrics"]["intent_match"] is not None
