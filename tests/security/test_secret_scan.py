"""A ``dojo up`` run with a fake API key whose judge service goes down: the key leaks
nowhere, and the episodes go on with heuristic rewards, the gap on record.

The Anthropic judge is pointed (``DOJO_JUDGE_BASE_URL``) at a fake Messages API
over real HTTP that answers the first judgement with a verdict whose rationale
quotes the key, then fails (500, quoting it) and refuses the key (401, quoting
it) for good. The key comes from a secret file (``DOJO_ANTHROPIC_API_KEY_FILE``).

Scanned afterwards for the key: every file the run wrote (logs of every process,
Faust data, adverts), the store (raw bytes and every row of every table as
text), every message on every topic of the run (the scoring app's internal and
changelog topics included), and everything ``dojo up``, ``dojo monitor`` and
``dojo store stats`` printed.

Judge faults: the circuit breaker opens after ``DOJO_JUDGE_BREAKER_FAILURES``
consecutive failures; from then judgements fail fast as "circuit open". The
judge runs one call at a time and its breaker opens on the first failed
judgement, so three judgements are enough to see an answer, a failure and an
open circuit. The worker plays E-1.1 only (``DOJO_ENV_EPISODE_TYPES``): the
senior policy makes five or more judged decisions in every elicitation, while
an E-1.3 can have none (a run that drew two E-1.3 and an E-1.4 made two
judgements, and the circuit never opened). Every decision still gets its
reward and every episode its scored trajectory; the failed judgements are
JudgeFailed rows with no score, and the monitor shows the gap (decisions
rewarded without the judge, their share, the circuit-open count).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dojo.broker.admin import ensure_topics
from dojo.broker.connection import aiokafka_options
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.judge.redact import REDACTED
from dojo.store import open_store
from dojo.store.stats import TABLES

pytestmark = pytest.mark.timeout(400)

KEY = "sk-ant-api03-FAKE-dojo-up-scan-" + uuid.uuid4().hex
GOOD_ANSWERS = 1  # then the service fails and refuses the key


class FakeMessagesAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests = 0
        self.keys_seen: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeMessagesAPI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.server.lock:
            self.server.requests += 1
            n = self.server.requests
            sent = self.headers.get("x-api-key") or self.headers.get("authorization", "")
            self.server.keys_seen.add(sent.removeprefix("Bearer "))
        if n <= GOOD_ANSWERS:
            content = body["messages"][0]["content"]
            components = [
                line[2:] for line in content.splitlines() if line.startswith("- B-") and "/" in line
            ]
            verdict = {
                "scores": [
                    {"component": c, "score": 0.5, "evidence": f"quoting {KEY}"} for c in components
                ],
                "rationale": f"the request carried the key {KEY}",
            }
            return self._reply(200, _message(json.dumps(verdict)))
        if n % 2:
            return self._reply(401, _error("authentication_error", f"invalid x-api-key: {KEY}"))
        return self._reply(500, _error("api_error", f"backend failed for key {KEY}"))

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


def _error(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}}


def _message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 50},
    }


@dataclass
class Run:
    settings: Settings
    folder: Path
    printed: str
    summary: dict[str, Any]
    api: FakeMessagesAPI


@pytest.fixture(scope="module")
def run(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("secret-scan")
    secrets = tmp_path_factory.mktemp("secrets")  # outside what is scanned
    key_file = secrets / "anthropic.key"
    key_file.write_text(KEY + "\n")
    api = FakeMessagesAPI()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        store_path=folder / "store.duckdb",
        data_dir=folder / "data",
    )
    asyncio.run(ensure_topics(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_") and "API_KEY" not in k}
    env.update(
        DOJO_KAFKA_BOOTSTRAP=broker.bootstrap,
        DOJO_TOPIC_PREFIX=settings.topic_prefix,
        DOJO_DATA_DIR=str(settings.data_dir),
        DOJO_CONSUMER_SESSION_TIMEOUT_S="6",
        DOJO_CONSUMER_HEARTBEAT_INTERVAL_S="0.5",
        DOJO_POLICY="senior",
        DOJO_ENV_WORKERS="1",
        DOJO_ENV_EPISODE_TYPES="E-1.1",  # five or more judged decisions an episode
        DOJO_JUDGE="anthropic",
        DOJO_JUDGE_BASE_URL=api.url,
        DOJO_ANTHROPIC_API_KEY_FILE=str(key_file),
        DOJO_JUDGE_MAX_ATTEMPTS="2",
        DOJO_JUDGE_CONCURRENCY="1",  # judgements in a fixed order: answer, failure, open
        DOJO_JUDGE_BREAKER_FAILURES="1",
        DOJO_JUDGE_BREAKER_COOLDOWN_S="600",
        DOJO_JUDGE_TIMEOUT_S="20",
        # the most talkative log level: HTTP stacks log requests at debug
        DOJO_LOG_LEVEL="debug",
        DOJO_EVAL_QUICK_EVERY="0",
        DOJO_EVAL_FULL_EVERY="0",
        DOJO_CURRICULUM_AUTO="false",
        DOJO_DASHBOARD="false",
        DOJO_LEARNER="false",
    )
    try:
        up = subprocess.run(
            [sys.executable, "-m", "dojo", "up", "--episodes", "3", "--store", str(settings.store.path), "--json"],
            env=env, cwd=folder, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        printed = up.stdout + up.stderr
        for extra in (
            ["monitor", "--once", "--json", "--store", str(settings.store.path)],
            ["store", "stats", "--json", "--store", str(settings.store.path)],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "dojo", *extra], env=env, cwd=folder,
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            printed += done.stdout + done.stderr
        summary = json.loads(up.stdout.strip().splitlines()[-1])
        yield Run(settings, folder, printed, summary, api)
    finally:
        api.shutdown()


def _every_message(settings: Settings) -> list[bytes]:
    async def read() -> list[bytes]:
        admin = AIOKafkaAdminClient(**aiokafka_options(settings))
        await admin.start()
        try:
            names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
            described = await admin.describe_topics(names)
        finally:
            await admin.close()
        tps = [
            TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
        ]
        consumer = AIOKafkaConsumer(**aiokafka_options(settings), auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            seen: list[bytes] = []
            idle = 0
            while idle < 2:  # the run is over: two empty polls in a row mean all was read
                batch = await consumer.getmany(timeout_ms=1000)
                idle = 0 if batch else idle + 1
                seen += [
                    (r.key or b"") + b" " + (r.value or b"") for rs in batch.values() for r in rs
                ]
            return seen
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_the_run_used_the_key_and_the_key_leaked_nowhere(run: Run) -> None:
    assert run.summary["status"] == "ok", run.summary["errors"]
    assert run.api.keys_seen == {KEY}  # the judge really sent it, from the file
    key = KEY.encode()
    # every file the run wrote: logs of every process, Faust data, adverts, the store
    files = [p for p in run.folder.rglob("*") if p.is_file()]
    logs = [p for p in files if p.suffix == ".log"]
    assert len(logs) >= 3, logs  # sink, scoring, env worker at least
    assert any(p.name.startswith("scoring") for p in logs)
    leaked = [str(p) for p in files if key in p.read_bytes()]
    assert leaked == []
    # the store, row by row (its file compresses strings, so the raw scan is not enough)
    reader = open_store(run.settings.store.path)
    try:
        for table in TABLES:
            rows = reader.query(f"SELECT * FROM {table}").to_pylist()
            assert KEY not in json.dumps(rows, default=str), table
        redacted = reader.query(
            "SELECT count(*) AS n FROM verdicts WHERE rationale LIKE ? OR reason LIKE ?",
            [f"%{REDACTED}%", f"%{REDACTED}%"],
        ).to_pylist()[0]["n"]
    finally:
        reader.close()
    assert redacted > 0  # what echoed the key was stored, scrubbed
    # every message on every topic of the run
    messages = _every_message(run.settings)
    assert len(messages) > 50
    assert [m[:200] for m in messages if key in m] == []
    # everything printed
    assert KEY not in run.printed


def test_an_open_breaker_leaves_a_recorded_gap_and_the_episodes_go_on(run: Run) -> None:
    reader = open_store(run.settings.store.path)
    try:

        def one(sql: str) -> Any:
            return next(iter(reader.query(sql).to_pylist()[0].values()))

        decisions = one("SELECT count(*) FROM decisions")
        rewarded = one("SELECT count(DISTINCT decision_id) FROM rewards")
        trajectories = one("SELECT count(DISTINCT episode_id) FROM trajectories")
        ok = one(
            "SELECT count(*) FROM verdicts WHERE status = 'ok' AND NOT coalesce(swapped, false)"
        )
        failed = reader.query(
            "SELECT error_type, reason, scores FROM verdicts WHERE status = 'failed'"
        ).to_pylist()
    finally:
        reader.close()
    # the episodes went on: every decision rewarded, every episode scored for the learner
    assert decisions > 0 and rewarded == decisions
    assert trajectories == 3
    circuit_open = [f for f in failed if f["error_type"] == "CircuitOpen"]
    assert ok >= 1 and circuit_open, (ok, {f["error_type"] for f in failed})
    assert all(f["reason"] == "circuit open" and f["scores"] is None for f in circuit_open)
    # the monitor shows the gap
    state = json.loads(
        next(line for line in run.printed.splitlines() if line.startswith('{"generated_at"'))
    )
    judge = state["judge"]
    assert judge["gap"] == len(failed) and judge["circuit_open"] == len(circuit_open)
    assert 0 < judge["gap_share"] < 1
