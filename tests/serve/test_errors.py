"""Every kind of bad request gets its status and an OpenAI-shaped error, and the server
answers a good request afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

GOOD_CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
GOOD_TEXT = {"model": "tiny", "prompt": "story", "max_tokens": 3}


def _chat(**changes: Any) -> dict[str, Any]:
    return {**GOOD_CHAT, **changes}


def _text(**changes: Any) -> dict[str, Any]:
    return {**GOOD_TEXT, **changes}


# (path, JSON body, status, param, code)
BAD: list[tuple[str, Any, int, str | None, str | None]] = [
    ("chat/completions", _chat(model="gpt-4o"), 404, "model", "model_not_found"),
    ("completions", _text(model="tiny:v000009"), 404, "model", "model_not_found"),
    ("chat/completions", _chat(temperature=-0.5), 400, "temperature", None),
    ("chat/completions", _chat(temperature="hot"), 400, "temperature", None),
    ("chat/completions", _chat(max_tokens=0), 400, "max_tokens", None),
    ("completions", _text(max_tokens=-3), 400, "max_tokens", None),
    ("chat/completions", _chat(max_tokens=100_000), 400, "max_tokens", None),
    ("chat/completions", _chat(top_p=0), 400, "top_p", None),
    ("chat/completions", _chat(n=2), 400, "n", None),
    ("chat/completions", _chat(top_logprobs=3), 400, "top_logprobs", None),
    ("chat/completions", _chat(top_logprobs=21, logprobs=True), 400, "top_logprobs", None),
    ("chat/completions", _chat(messages="hi"), 400, "messages", None),
    ("chat/completions", _chat(messages=[]), 400, "messages", None),
    (
        "chat/completions",
        _chat(messages=[{"role": "wizard", "content": "x"}]),
        400,
        "messages.0.role",
        None,
    ),
    ("chat/completions", _chat(stop=[""]), 400, "stop", None),
    ("chat/completions", _chat(seed="seven"), 400, "seed", None),
    ("chat/completions", _chat(frequency_penalty=0.5), 400, "frequency_penalty", None),
    ("chat/completions", {"messages": GOOD_CHAT["messages"]}, 400, "model", None),
    ("completions", _text(prompt=""), 400, "prompt", None),
    ("completions", _text(prompt=[999_999]), 400, "prompt", None),
    ("completions", _text(echo=True), 400, "echo", None),
    # prompts: past DOJO_SERVE_MAX_PROMPT_TOKENS (8,000), and within it but over the
    # model's 8,192 positions with the tokens asked for
    ("completions", _text(prompt=[5] * 8001), 400, "prompt", "context_length_exceeded"),
    (
        "completions",
        _text(prompt=[5] * 7900, max_tokens=300),
        400,
        "prompt",
        "context_length_exceeded",
    ),
]


def _shaped(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{url}/v1", timeout=60) as session:
        yield session


@pytest.mark.parametrize(("path", "body", "status", "param", "code"), BAD)
def test_a_bad_request_gets_its_status_and_an_openai_error(
    http: httpx.Client, path: str, body: Any, status: int, param: str | None, code: str | None
) -> None:
    answer = http.post(f"/{path}", json=body)
    assert answer.status_code == status, answer.text
    error = _shaped(answer)
    assert (error["param"], error["code"]) == (param, code), error
    assert error["type"] == "invalid_request_error"
    assert (
        http.post(f"/{path}", json=GOOD_CHAT if path.startswith("chat") else GOOD_TEXT).status_code
        == 200
    )


def test_malformed_json_unknown_paths_and_large_bodies(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    bad_json = http.post("/chat/completions", content=b'{"model": "tiny", ', headers=headers)
    assert bad_json.status_code == 400 and "not valid JSON" in _shaped(bad_json)["message"]
    not_json = http.post("/chat/completions", content=b"model=tiny")
    assert not_json.status_code == 400 and _shaped(not_json)
    assert http.get("/nowhere").status_code == 404 and _shaped(http.get("/nowhere"))
    assert http.get("/chat/completions").status_code == 405
    # over DOJO_SERVE_MAX_BODY_BYTES (64 KiB here): declared, and chunked without a length
    big = _chat(messages=[{"role": "user", "content": "x" * 70_000}])
    declared = http.post("/chat/completions", json=big)
    assert declared.status_code == 413 and _shaped(declared)["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}]}'

    chunked = http.post("/chat/completions", content=chunks(), headers=headers)
    assert chunked.status_code == 413 and _shaped(chunked)["code"] == "request_too_large"
    # and the server serves on
    good = http.post("/chat/completions", json=GOOD_CHAT)
    assert good.status_code == 200 and good.json()["choices"][0]["message"]["role"] == "assistant"
    # a body just under the limit is read whole
    near = json.dumps(_chat(max_tokens=1)).encode() + b" " * 60_000  # JSON may end in spaces
    assert http.post("/chat/completions", content=near, headers=headers).status_code == 200


def test_a_streamed_request_that_is_refused_gets_a_plain_error(http: httpx.Client) -> None:
    answer = http.post("/completions", json=_text(model="other", stream=True))
    assert answer.status_code == 404 and _shaped(answer)["code"] == "model_not_found"
