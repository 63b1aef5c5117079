"""The scoring app with the Claude judge, against a fake Messages API over real HTTP.

The scoring worker runs ``DOJO_JUDGE=anthropic`` through the real ``anthropic``
SDK; its base URL points at an HTTP server in this test that plays, per
distinct decision, one of: success; 429 then success; 500 on every attempt;
malformed JSON; a timeout on every attempt. Error bodies and the malformed
answer echo the API key. Checked: each due decision gets exactly the answer its
script implies, after exactly the attempts the retry policy allows; a failure
carries no score and feeds none into the reward; the key appears in no stored
row, no message on any topic and no log line; and after a restart, the same
decisions seen again are answered from the store's verdict cache without a call.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from scoring_support import Worker, episode_events, publish, query, run, scalar, wait_for

from dojo.broker.admin import ensure_topics
from dojo.broker.connection import aiokafka_options
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.events import AnyEvent, DecisionMade
from dojo.judge.factory import judge_stack
from dojo.judge.selection import is_due
from dojo.reward import load_reward_config
from dojo.store.stats import TABLES

pytestmark = pytest.mark.timeout(300)

API_KEY = "sk-ant-api03-FAKE-KEY-must-never-leak-0123456789"
SCRIPTS = ("success", "429-then-success", "500-always", "malformed", "timeout")
ATTEMPTS = 2
TIMEOUT_S = 2.0  # generous: a loaded machine must not turn a success into a timeout
#: components only the judge can score (kind J): a failure must leave them out of the reward
JUDGE_KEYS = {k for k, (_, c) in load_reward_config().signal_weights().items() if c.kind == "J"}
EPISODES = (0, 1, 4, 5)  # E-1.1, E-1.2, E-1.5, E-2.1: plenty of judgeable decisions


class FakeMessagesAPI(ThreadingHTTPServer):
    """``POST /v1/messages``: the script of a decision is fixed when it is first seen."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.scripts: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.keys_seen: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def script_of(self, content: str) -> tuple[str, int]:
        with self.lock:
            script = self.scripts.setdefault(content, SCRIPTS[len(self.scripts) % len(SCRIPTS)])
            self.calls[content] += 1
            return script, self.calls[content]


class Handler(BaseHTTPRequestHandler):
    server: FakeMessagesAPI

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.keys_seen.add(self.headers.get("authorization", ""))
        content = body["messages"][0]["content"]
        script, call = self.server.script_of(content)
        components = re.findall(r"^- (B-\d\d/[a-z_]+)$", content, flags=re.MULTILINE)
        if script == "timeout":
            time.sleep(TIMEOUT_S + 0.5)
            return self.reply(500, error("api_error", "too late"))
        if script == "500-always":
            return self.reply(500, error("api_error", f"upstream rejected key {API_KEY}"))
        if script == "429-then-success" and call == 1:
            return self.reply(429, error("rate_limit_error", "slow down"), {"retry-after": "0"})
        if script == "malformed":
            return self.reply(200, message(f"Sure! Scores look fine. (key {API_KEY})"))
        verdict = {
            "scores": [
                {"component": c, "score": 0.6, "evidence": "names the trade-off"}
                for c in components
            ],
            "rationale": "grounded in the trace",
        }
        return self.reply(200, message(json.dumps(verdict)))

    def reply(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (the timeout script)


def error(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}}


def message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 3000},
    }


@pytest.fixture
def fake_api() -> Iterator[FakeMessagesAPI]:
    server = FakeMessagesAPI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def renamed(events: list[AnyEvent], suffix: str) -> list[AnyEvent]:
    """The same episodes under new ids: what a replay of history looks like to the judge."""
    out: list[AnyEvent] = []
    for event in events:
        episode = f"{event.episode_id}-{suffix}"  # type: ignore[union-attr]
        update: dict[str, Any] = {"episode_id": episode, "event_id": uuid.uuid4()}
        if isinstance(event, DecisionMade):
            update["decision_id"] = f"{episode}/{event.step:03d}"
        out.append(event.model_copy(update=update))
    return out


async def every_message(settings: Settings) -> list[bytes]:
    """Keys and values of every message on every topic of this test's prefix."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[bytes] = []
        idle = 0
        deadline = time.monotonic() + 60
        # the pipeline is quiet by now: two empty polls in a row mean everything was read
        # (Tansu's ListOffsets cannot be trusted for the end, see dojo.workers.progress)
        while idle < 2 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                seen += [(r.key or b"") + b" " + (r.value or b"") for r in records]
        return seen
    finally:
        await consumer.stop()


def test_claude_judge_through_the_pipeline(
    broker: EmbeddedBroker, tmp_path: Path, fake_api: FakeMessagesAPI
) -> None:
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        store_path=tmp_path / "store.duckdb",
        data_dir=tmp_path / "data",
        consumer_session_timeout_s=6.0,
        consumer_heartbeat_interval_s=0.5,
        log_level="debug",  # the SDK's and the HTTP stack's debug lines are checked too
        judge="anthropic",
        anthropic_api_key=API_KEY,  # type: ignore[arg-type]
        judge_base_url=fake_api.url,
        judge_max_attempts=ATTEMPTS,
        judge_timeout_s=TIMEOUT_S,
        judge_double_fraction=0.0,
        # the breaker is tested on its own (tests/judge); here it would turn the replay's
        # run of failing decisions (only they reach the API again) into fast failures
        # without a call, depending on the order the answers come back in
        judge_breaker_failures=10_000,
        drift_window_s=2,
        drift_lateness_s=1.0,
        scoring_batch_within_s=0.1,
        sink_batch_within_s=0.1,
    )
    run(ensure_topics(settings))
    sink = Worker(settings, "sink", tmp_path / "sink.log", DOJO_LOG_LEVEL="info").start()
    scoring = Worker(settings, "scoring", tmp_path / "scoring.log").start()
    workers = [sink, scoring]
    try:
        sink.wait_ready()
        scoring.wait_ready()
        events = [e for i in EPISODES for e in episode_events(i)]
        decisions = [e for e in events if isinstance(e, DecisionMade)]
        stack = judge_stack(settings)
        due = {
            d.decision_id
            for d in decisions
            if is_due(d.decision_id, d.episode_id, d.signals, stack.sampling)
        }
        run(publish(settings, events))
        wait_for(
            lambda: scalar(settings, "SELECT count(*) FROM trajectories") == len(EPISODES),
            120,
            "the episodes to be scored",
        )

        # every due decision answered once, as its script says, after the right attempts
        assert len(fake_api.scripts) == len(due) >= len(SCRIPTS)
        expected_calls = {
            "success": 1, "429-then-success": 2, "500-always": ATTEMPTS, "malformed": 1,
            "timeout": ATTEMPTS,
        }  # fmt: skip
        for content, script in fake_api.scripts.items():
            assert fake_api.calls[content] == expected_calls[script], script
        assert fake_api.keys_seen == {f"Bearer {API_KEY}"}  # in its header, and only there
        rows = query(settings, "SELECT * FROM verdicts")
        assert Counter(r["decision_id"] for r in rows) == Counter(due)
        scripts = Counter(fake_api.scripts.values())
        ok = [r for r in rows if r["status"] == "ok"]
        failed = [r for r in rows if r["status"] == "failed"]
        assert len(ok) == scripts["success"] + scripts["429-then-success"]
        assert Counter(r["error_type"] for r in failed) == {
            "InternalServerError": scripts["500-always"],
            "MalformedVerdict": scripts["malformed"],
            "APITimeoutError": scripts["timeout"],
        }
        assert all(r["scores"] is None for r in failed)
        assert all(
            r["attempts"] == ATTEMPTS for r in failed if r["error_type"] != "MalformedVerdict"
        )

        # no made-up score: a failed judgement feeds nothing into the reward
        rewards = {r["decision_id"]: r for r in query(settings, "SELECT * FROM rewards")}
        assert set(rewards) == {d.decision_id for d in decisions}
        for row in failed:
            reward = rewards[row["decision_id"]]
            assert reward["judge_version"] is None
            assert not set(reward["components_present"]) & JUDGE_KEYS
        assert any(rewards[r["decision_id"]]["judge_version"] == stack.version for r in ok)

        # replaying the same decisions after a restart pays only for what failed before
        scoring.stop(signal.SIGTERM)
        calls_before = dict(fake_api.calls)
        scoring = Worker(settings, "scoring", tmp_path / "scoring-2.log").start()
        workers.append(scoring)
        scoring.wait_ready()
        replay = renamed(events, "replay")
        run(publish(settings, replay))
        wait_for(
            lambda: scalar(settings, "SELECT count(*) FROM trajectories") == 2 * len(EPISODES),
            120,
            "the replay to be scored",
        )
        paid_again = {c for c, n in fake_api.calls.items() if n > calls_before.get(c, 0)}
        assert paid_again == {
            c for c, s in fake_api.scripts.items() if s not in ("success", "429-then-success")
        }
        replayed_ok = query(
            settings,
            "SELECT cached FROM verdicts WHERE status = 'ok' AND episode_id LIKE '%-replay'",
        )
        assert replayed_ok and all(r["cached"] for r in replayed_ok)

        # the key is nowhere: not in the store, not on any topic, not in any log line
        for table in TABLES:
            for row in query(settings, f"SELECT * FROM {table}"):
                assert API_KEY not in json.dumps(row, default=str), table
        messages = run(every_message(settings))
        assert len(messages) > len(events)
        assert not [m for m in messages if API_KEY.encode() in m]
        assert "[REDACTED]" in json.dumps(query(settings, "SELECT reason FROM verdicts"))
        for worker in workers:
            text = worker.text()
            assert text and API_KEY not in text, worker.log
        assert "DEBUG" in scoring.text()
    finally:
        for worker in reversed(workers):
            worker.stop()
