"""Eight clients at once: every answer well formed, and each the answer its request gets alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from openai import OpenAI

from dojo.config import Settings
from dojo.serve.engine import Event, GenerationParams, Job, Prompt, Started, load_engine
from dojo.serve.errors import APIError


def _requests() -> list[dict[str, Any]]:
    """Eight different requests: greedy and seeded sampling, chat and text, plain and streamed."""
    asks: list[dict[str, Any]] = []
    for i in range(8):
        ask: dict[str, Any] = dict(
            model="tiny",
            max_tokens=12 + i,
            seed=100 + i,
            temperature=0 if i % 2 == 0 else 1.0,
            extra_body={"ignore_eos": True},
        )
        if i % 4 < 2:
            ask.update(kind="chat", messages=[{"role": "user", "content": f"Question {i}?"}])
            ask.update(logprobs=True, top_logprobs=2)
        else:
            ask.update(kind="text", prompt=f"story {i}", logprobs=2)
        ask["stream"] = i >= 4
        asks.append(ask)
    return asks


def _answer(client: OpenAI, ask: dict[str, Any]) -> tuple[str, list[int]]:
    """(text, token ids) of ``ask``'s answer, streamed or not."""
    kind, stream = ask["kind"], ask["stream"]
    params = {k: v for k, v in ask.items() if k not in ("kind", "stream")}
    if kind == "chat":
        if not stream:
            choice = client.chat.completions.create(**params).choices[0]
            assert choice.logprobs is not None and choice.logprobs.content is not None
            ids = [e.token_id for e in choice.logprobs.content]  # type: ignore[attr-defined]
            return choice.message.content or "", ids
        text, ids = "", []
        for chunk in client.chat.completions.create(**params, stream=True):
            delta = chunk.choices[0]
            text += delta.delta.content or ""
            if delta.logprobs and delta.logprobs.content:
                ids += [e.token_id for e in delta.logprobs.content]  # type: ignore[attr-defined]
        return text, ids
    if not stream:
        choice = client.completions.create(**params).choices[0]
        return choice.text, choice.logprobs.token_ids  # type: ignore[union-attr]
    text, ids = "", []
    for chunk in client.completions.create(**params, stream=True):
        text += chunk.choices[0].text
        if chunk.choices[0].logprobs:
            ids += chunk.choices[0].logprobs.token_ids  # type: ignore[attr-defined]
    return text, ids


def test_eight_concurrent_clients_get_the_answers_they_get_alone(client: OpenAI) -> None:
    asks = _requests()
    alone = [_answer(client, ask) for ask in asks]
    for ask, (_, ids) in zip(asks, alone, strict=True):
        assert len(ids) == ask["max_tokens"]  # EOS ignored: every token asked for
    together: list[tuple[str, list[int]] | None] = [None] * len(asks)
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(asks))

    def one(i: int) -> None:
        try:
            barrier.wait(30)
            together[i] = _answer(client, asks[i])
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(asks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert failures == []
    assert together == alone
    # the sampled ones did sample: not all equal to the greedy answer of the same prompt
    assert len({tuple(ids) for _, ids in alone}) == len(asks)


def test_requests_beyond_the_queue_are_refused_with_429(serve_settings: Settings) -> None:
    settings = serve_settings.replace(serve_max_queued=1)
    engine = load_engine(settings, "tiny", "none")
    started = threading.Event()

    def job(emit: Callable[[Event], None] = lambda event: None) -> Job:
        long = GenerationParams(max_tokens=512, temperature=0, ignore_eos=True)
        return Job("tiny", Prompt(text="story"), long, emit)

    busy = job(lambda event: started.set() if isinstance(event, Started) else None)
    with pytest.raises(APIError) as stopped:
        engine.submit(busy)  # not started yet
    assert stopped.value.status == 503
    engine.start()
    try:
        engine.submit(busy)
        assert started.wait(30)  # the worker is generating it
        engine.submit(job())  # waits in the queue
        with pytest.raises(APIError) as refused:
            engine.submit(job())
        assert refused.value.status == 429 and refused.value.code == "server_busy"
    finally:
        busy.cancelled.set()
        engine.close()
