"""History for replay tests: real episodes stored through the store's own projection,
and a fake Messages API over real HTTP for the Claude judge."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec, Observation
from dojo.events import AnyEvent, Stamper, encode
from dojo.store import Received, StoreWriter
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import Action, rollout

POLICIES = ("senior", "junior", "random")
API_KEY = "sk-ant-api03-FAKE-replay-key-0123456789"


class TokenActor:
    """A scripted policy whose decisions carry token ids and log-probs as a model's would."""

    def __init__(self, name: str, seed: int) -> None:
        self._inner = ReferenceActor(name, seed)

    @property
    def version(self) -> str:
        return "v000003"

    def act(self, observation: Observation, seed: int) -> Action:
        action = self._inner.act(observation, seed)
        completion = list(action.text.encode()[:10]) or [1]
        return Action(
            text=action.text,
            prompt_text=action.prompt_text,
            prompt_token_ids=list(action.prompt_text.encode()[:16]),
            completion_token_ids=completion,
            logprobs=[-0.05 * (i + 1) for i in range(len(completion))],
            allowed_token_ids=[[t, 0] if i % 2 else None for i, t in enumerate(completion)],
        )

    def between_episodes(self) -> None:
        pass


def episode(index: int, episode_id: str | None = None, *, tokens: bool = False) -> list[AnyEvent]:
    """Episode number ``index`` (types and policies cycle), as an environment worker publishes it."""
    episode_type = EPISODE_TYPES[index % len(EPISODE_TYPES)]
    spec = EpisodeSpec(episode_type=episode_type, seed=500 + index, stage=int(episode_type[2]))
    name = POLICIES[index % len(POLICIES)]
    actor = TokenActor(name, index) if tokens else ReferenceActor(name, index)
    return list(rollout(spec, episode_id or f"ep-{index:04d}", actor, Stamper("test-env")))


def store_events(path: Path, events: list[AnyEvent]) -> dict[str, int]:
    """Write events into the store at ``path`` the way the sink does."""
    writer = StoreWriter(path)
    try:
        return writer.write(
            [Received(e, encode(e), "test.episodes", 0, i) for i, e in enumerate(events)]
        )
    finally:
        writer.close()


class FakeMessagesAPI(ThreadingHTTPServer):
    """``POST /v1/messages``: a verdict on every component asked, counting the calls."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def __enter__(self) -> FakeMessagesAPI:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeMessagesAPI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        content = body["messages"][0]["content"]
        with self.server.lock:
            self.server.calls[content] += 1
        components = re.findall(r"^- (B-\d\d/[a-z_]+)$", content, flags=re.MULTILINE)
        verdict = {
            "scores": [
                {"component": c, "score": 0.25 + 0.5 * (len(content) % 2), "evidence": "e"}
                for c in components
            ],
            "rationale": "fake",
        }
        reply = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": json.dumps(verdict)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 50},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
