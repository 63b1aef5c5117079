"""``dojo up``: the services table run as one process tree, its failures, its shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import Settings
from dojo.store import open_store, store_stats
from dojo.workers import supervisor as supervisor_module
from dojo.workers.actors import UnknownPolicy
from dojo.workers.progress import Snapshot
from dojo.workers.services import ENV_WORKERS, SERVICES, SINK, RunPlan, Service
from dojo.workers.supervisor import Progress, RunSummary, Supervisor

#: the store and the workers only, for tests about them (the full table runs in one test)
LEAN = [SINK, ENV_WORKERS]

#: every test here runs a process tree (tests/conftest.py)
pytestmark = pytest.mark.system


def up(settings: Settings, **kwargs: object) -> RunSummary:
    return asyncio.run(Supervisor(settings, live=False, **kwargs).run())  # type: ignore[arg-type]


def stats(settings: Settings):  # type: ignore[no-untyped-def]
    reader = open_store(settings.store.path)
    try:
        return store_stats(reader)
    finally:
        reader.close()


def test_env_workers_share_the_episodes() -> None:
    def shares(episodes: int, workers: int) -> list[list[str]]:
        plan = RunPlan(Settings(env_workers=workers), episodes=episodes)
        return [ENV_WORKERS.args(plan, i) for i in range(ENV_WORKERS.replicas(plan))]  # type: ignore[misc]

    assert [a[-1] for a in shares(5, 2)] == ["3", "2"]
    assert shares(1, 3) == [["env-worker", "--index", "0", "--episodes", "1"]]
    assert ENV_WORKERS.child_names(RunPlan(Settings(env_workers=2))) == [
        "env-worker-0",
        "env-worker-1",
    ]
    orders = [s.start_order for s in SERVICES]
    assert SERVICES[orders.index(max(orders))] is ENV_WORKERS  # workers start last


def test_up_with_a_reference_policy(kafka_settings: Settings) -> None:
    settings = kafka_settings.replace(policy="senior", env_workers=2)
    summary = up(settings, episodes=5)
    assert summary.status == "ok", summary.errors
    assert (summary.episodes, summary.consumer_lag, summary.embedded_broker) == (5, 0, False)
    assert summary.events_stored >= summary.events_published > 0
    logs = sorted(p.name for p in Path(summary.logs).iterdir())
    assert {"sink.log", "env-worker-0.log", "env-worker-1.log"} <= set(logs)
    found = stats(settings)
    assert found.episodes_completed == 5 and found.episodes_incomplete == 0
    assert found.consistent, found


def test_up_with_the_tiny_model(kafka_settings: Settings) -> None:
    # two workers on a fresh data dir build the tiny base at the same time
    settings = kafka_settings.replace(policy="tiny", env_workers=2)
    summary = up(settings, episodes=2, services=LEAN)
    assert summary.status == "ok", summary.errors
    assert summary.episodes == 2
    assert len(list((settings.data_dir / "models").iterdir())) == 1
    reader = open_store(settings.store.path)
    try:
        rows = reader.query(
            "SELECT DISTINCT policy_version, len(prompt_token_ids) > 0 AS prompt, "
            "len(completion_token_ids) = len(logprobs) AND len(logprobs) > 0 AS aligned "
            "FROM decisions"
        ).to_pylist()
    finally:
        reader.close()
    assert rows == [{"policy_version": "tiny-base", "prompt": True, "aligned": True}]
    assert stats(settings).consistent


def test_an_unknown_policy_fails_before_anything_starts(kafka_settings: Settings) -> None:
    settings = kafka_settings.replace(policy="no-such-policy")
    with pytest.raises(UnknownPolicy, match="unknown policy 'no-such-policy': expected"):
        up(settings, episodes=4, services=LEAN)
    assert not (settings.data_dir / "runs").exists()  # no run, no child


def test_dojo_up_names_an_unknown_policy_and_exits_2(tmp_path: Path) -> None:
    env = {"DOJO_DATA_DIR": str(tmp_path), "DOJO_KAFKA_BOOTSTRAP": None}
    result = CliRunner().invoke(app, ["up", "--policy", "sage", "--episodes", "1"], env=env)
    assert result.exit_code == 2, result.output
    assert "DOJO_POLICY: unknown policy 'sage': expected a reference policy" in result.output


def test_a_worker_failing_at_start_fails_the_run(kafka_settings: Settings, tmp_path: Path) -> None:
    # a model folder without a model: the policy is a valid name, the worker's load fails.
    # "at start" is the first minute here: a worker importing torch on a loaded 2-core
    # machine takes longer than the default 5 s to fail, and was restarted five times
    (empty := tmp_path / "no-model-here").mkdir()
    settings = kafka_settings.replace(policy=str(empty), env_workers=2, restart_min_uptime_s=60.0)
    summary = up(settings, episodes=4, services=LEAN)
    assert summary.restarts == {}  # failed at once, not after its restarts
    assert summary.status == "error"
    assert summary.episodes == 0
    problem = summary.errors[0]
    assert "env-worker-" in problem and "exited with code 1" in problem
    assert "no-model-here" in problem  # the log's last lines say why
    assert f"{summary.logs}/env-worker-" in problem


def test_a_service_that_stops_on_its_own_fails_the_run(kafka_settings: Settings) -> None:
    quitter = Service(name="quitter", args=lambda plan, index: ["schemas", "check"])
    summary = up(kafka_settings, services=[quitter], minutes=2.0)
    assert summary.status == "error"
    assert summary.errors[0].startswith("quitter stopped unexpectedly (exit code 0)")
    assert summary.elapsed_s < 100  # it did not wait for --minutes


def test_a_probe_that_never_answers_does_not_hold_the_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a Kafka client asking a dead broker for a group's offsets retries forever; the
    # watch loop, which restarts the broker, must go on with the last progress known
    class Hanging:
        async def snapshot(self) -> Snapshot:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    monkeypatch.setattr(supervisor_module, "PROBE_TIMEOUT_S", 0.2)
    supervisor = Supervisor(Settings(), live=False)
    supervisor._probe = Hanging()  # type: ignore[assignment]
    progress = Progress()
    progress.last = Snapshot(3, 0, 1, 3)

    async def probe() -> Snapshot:
        return await asyncio.wait_for(supervisor._snapshot(progress), 5.0)

    assert asyncio.run(probe()) == progress.last


def test_dojo_up_on_the_embedded_broker_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_")}
    env.update(DOJO_DATA_DIR=str(tmp_path / "data"), DOJO_POLICY="senior", DOJO_ENV_WORKERS="1")
    # no evaluator: one finishes the evaluation in hand on the way out, which takes
    # longer than this test is about
    env.update(DOJO_EVAL_QUICK_EVERY="0", DOJO_EVAL_FULL_EVERY="0", DOJO_CURRICULUM_AUTO="false")
    store = tmp_path / "up.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-m", "dojo", "up", "--store", str(store), "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not _episodes_stored(store):  # running: some episodes are in the store
            assert process.poll() is None, "dojo up ended by itself"
            assert time.monotonic() < deadline, "no episode was stored"
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = RunSummary.model_validate(json.loads(out.strip().splitlines()[-1]))
    assert process.returncode == 0, summary.errors
    assert summary.status == "ok" and summary.embedded_broker and summary.consumer_lag == 0
    # everything published before the stop was stored, and no episode was torn
    found = stats(Settings(store_path=store))
    assert found.tables["events"].rows == summary.events_published
    assert found.episodes_incomplete == 0 and found.consistent
    assert summary.episodes == found.episodes_completed > 0


def _episodes_stored(store: Path) -> bool:
    if not store.exists():
        return False
    try:
        reader = open_store(store)
    except Exception:
        return False
    try:
        return bool(reader.query("SELECT count(*) FROM episodes").column(0)[0].as_py())
    except Exception:
        return False
    finally:
        reader.close()
