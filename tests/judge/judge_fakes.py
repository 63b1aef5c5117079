"""An HTTP-level fake of the Messages API, driven through the real ``anthropic`` SDK.

The SDK is built on ``httpx2``, so the fake is an ``httpx2.MockTransport``
inside the ``httpx2.AsyncClient`` handed to ``AnthropicJudge``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
from pydantic import SecretStr

from dojo.env.moves import Move
from dojo.env.protocol import Consequence
from dojo.judge import AnthropicJudge, AnthropicJudgeConfig, JudgeRequest, RetryConfig

FAKE_KEY = "sk-ant-test-SECRET-123"

Step = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


def verdict_text(scores: dict[str, float | None], rationale: str = "Grounded in the trace.") -> str:
    return json.dumps(
        {
            "scores": [
                {"component": k, "score": v, "evidence": f"evidence for {k}"}
                for k, v in scores.items()
            ],
            "rationale": rationale,
        }
    )


def message(
    text: str,
    *,
    stop_reason: str = "end_turn",
    input_tokens: int = 120,
    output_tokens: int = 80,
    cache_creation: int = 0,
    cache_read: int = 4000,
) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-5-5",
            "content": [
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "text", "text": text},
            ],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_creation,
                "cache_read_input_tokens": cache_read,
            },
        },
    )


def api_error(
    status: int, message_text: str = "boom", headers: dict[str, str] | None = None
) -> httpx2.Response:
    kind = {429: "rate_limit_error", 401: "authentication_error", 400: "invalid_request_error"}
    return httpx2.Response(
        status,
        headers=headers or {},
        json={
            "type": "error",
            "error": {"type": kind.get(status, "api_error"), "message": message_text},
        },
    )


class FakeMessagesAPI:
    """Plays a script of responses; the last step repeats once the script runs out."""

    def __init__(self, *script: Step) -> None:
        assert script, "a fake needs at least one step"
        self._script = list(script)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self._script.pop(0) if len(self._script) > 1 else self._script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx2.Response):
            return step
        return step(request)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(**overrides: Any) -> AnthropicJudgeConfig:
    values: dict[str, Any] = {
        "api_key": SecretStr(FAKE_KEY),
        "retry": RetryConfig(max_attempts=3, base_delay_s=1.0, max_delay_s=8.0),
    }
    values.update(overrides)
    return AnthropicJudgeConfig(**values)


def make_judge(
    fake: FakeMessagesAPI, sleep: FakeSleep, clock: FakeClock | None = None, **overrides: Any
) -> AnthropicJudge:
    return AnthropicJudge(
        config(**overrides), http_client=fake.client(), sleep=sleep, clock=clock or FakeClock()
    )


def make_request(
    decision_id: str = "d-1",
    *,
    episode_id: str = "ep-1",
    behaviours: tuple[str, ...] = ("B-08",),
    text: str = "Option A: a cron job vs option B: a queue worker; the queue costs more but retries.",
    completion: str | None = None,
) -> JudgeRequest:
    move = Move(name="compare_approaches", text=text)
    return JudgeRequest(
        decision_id=decision_id,
        episode_id=episode_id,
        episode_type="E-1.2",
        stage=1,
        phase="planning",
        step=3,
        behaviours=behaviours,
        observation="Plan the nightly export. Volume: 50 files a day; the deadline is Friday.",
        completion=completion if completion is not None else f"compare_approaches | {text}",
        move=move,
        consequences=(Consequence(kind="teammate_reply", description="PM: sounds fine."),),
    )


B08_SCORES: dict[str, float | None] = {"B-08/comparison": 0.7, "B-08/justification": 0.4}
