"""The official ``openai`` client against a real ``dojo serve`` (uvicorn, loopback, tiny preset):
models, chat and text completions, plain and streamed, log-probs with token ids."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import torch
from openai import OpenAI

from dojo.serve.engine import Engine

CHAT = [
    {"role": "system", "content": "You are a careful senior engineer."},
    {"role": "user", "content": "What do we ask before we plan the story?"},
]


def test_the_models_endpoint_lists_the_served_model(client: OpenAI, engine: Engine) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == ["tiny", "tiny:base"]
    details: Any = models[0].model_extra["dojo"]  # type: ignore[index]
    assert details["adapter"] is None and details["follows_latest"] is True
    assert "no adapter published" in details["note"]  # it says it serves the base
    assert details["base_model"] == engine.policy.source.base_id
    assert client.models.retrieve("tiny:base").id == "tiny:base"


def test_a_chat_completion_plain_and_streamed_with_logprobs_and_token_ids(
    client: OpenAI, engine: Engine
) -> None:
    ask: dict[str, Any] = dict(
        model="tiny",
        messages=CHAT,
        max_tokens=12,
        temperature=0,
        seed=3,
        logprobs=True,
        top_logprobs=3,
    )
    plain = client.chat.completions.create(**ask)
    choice = plain.choices[0]
    assert plain.object == "chat.completion" and plain.model == "tiny"
    assert plain.system_fingerprint == "tiny:base"
    assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
    assert choice.logprobs is not None and choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert plain.usage is not None and len(entries) == plain.usage.completion_tokens >= 1
    ids = [entry.token_id for entry in entries]  # type: ignore[attr-defined]
    assert all(isinstance(i, int) for i in ids)
    for entry in entries:
        tops = entry.top_logprobs
        assert len(tops) == 3 and tops[0].logprob >= tops[1].logprob >= tops[2].logprob
        # greedy: the chosen token is the most likely one, with its log-prob
        assert tops[0].token_id == entry.token_id  # type: ignore[attr-defined]
        assert tops[0].logprob == entry.logprob <= 0
        assert entry.token == engine.tokenizer.decode([entry.token_id])  # type: ignore[attr-defined]
    text = engine.tokenizer.decode(ids, skip_special_tokens=True)
    assert choice.message.content == text

    # the prompt is the messages through the (fallback) chat template; the log-prob of the
    # first token is the model's own
    prompt = engine.tokenizer.apply_chat_template(
        CHAT, chat_template=engine.chat_template, add_generation_prompt=True, tokenize=False
    )
    assert prompt.endswith("user: What do we ask before we plan the story?\nassistant:")
    prompt_ids = engine.tokenizer.encode(prompt, add_special_tokens=False)
    assert plain.usage.prompt_tokens == len(prompt_ids)
    with torch.no_grad():
        logits = engine.policy.model(input_ids=torch.tensor([prompt_ids])).logits[0, -1]
    first = torch.log_softmax(logits.float(), -1)
    assert int(first.argmax()) == ids[0]
    assert abs(float(first[ids[0]]) - entries[0].logprob) < 1e-4

    chunks = list(
        client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks)
    streamed = [
        e
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content or []
    ]
    assert [e.token_id for e in streamed] == ids  # type: ignore[attr-defined]
    assert [e.logprob for e in streamed] == [e.logprob for e in entries]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == choice.finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage


def test_a_text_completion_plain_and_streamed_with_logprobs_and_token_ids(
    client: OpenAI, engine: Engine
) -> None:
    ask: dict[str, Any] = dict(
        model="tiny:base", prompt="E-1.1 elicitation 1", max_tokens=10, temperature=0, logprobs=2
    )
    plain = client.completions.create(**ask)
    choice = plain.choices[0]
    assert plain.object == "text_completion" and choice.logprobs is not None
    logprobs: Any = choice.logprobs
    ids = logprobs.token_ids
    assert len(ids) == len(logprobs.tokens) == len(logprobs.token_logprobs) == 10
    assert plain.usage is not None and plain.usage.completion_tokens == 10
    assert choice.finish_reason == "length"
    assert choice.text == engine.tokenizer.decode(ids, skip_special_tokens=True)
    for token_id, token, logprob, top, top_ids in zip(
        ids,
        logprobs.tokens,
        logprobs.token_logprobs,
        logprobs.top_logprobs,
        logprobs.top_token_logprobs,
        strict=True,
    ):
        assert token == engine.tokenizer.decode([token_id])
        assert top_ids[0] == {"token_id": token_id, "token": token, "logprob": logprob}
        assert len(top_ids) == 2 and top[token] == logprob
    # the same prompt as token ids gives the same answer
    prompt_ids = engine.tokenizer.encode(ask["prompt"])
    by_ids = client.completions.create(**{**ask, "prompt": prompt_ids})
    assert by_ids.choices[0].text == choice.text

    chunks = list(client.completions.create(**ask, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == choice.text
    streamed_ids = [
        i for c in chunks if c.choices[0].logprobs for i in c.choices[0].logprobs.token_ids
    ]  # type: ignore[attr-defined]
    assert streamed_ids == ids
    offsets = [
        o for c in chunks if c.choices[0].logprobs for o in c.choices[0].logprobs.text_offset or []
    ]
    assert offsets == logprobs.text_offset
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_stop_string_ends_the_text_before_it_plain_and_streamed(client: OpenAI) -> None:
    ask: dict[str, Any] = dict(
        model="tiny",
        prompt="story 1",
        max_tokens=40,
        temperature=0,
        extra_body={"ignore_eos": True},  # vLLM's extension: the whole 40 tokens
    )
    whole = client.completions.create(**ask).choices[0].text
    assert len(whole) > 12, whole
    stop = whole[8:11]
    expected = whole[: whole.index(stop)]
    stopped = client.completions.create(**ask, stop=[stop, "never said"])
    assert stopped.choices[0].text == expected and stopped.choices[0].finish_reason == "stop"
    chunks = list(client.completions.create(**ask, stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_seeded_sampling_repeats_and_seeds_differ(client: OpenAI) -> None:
    def sample(seed: int) -> str:
        answer = client.chat.completions.create(
            model="tiny",
            messages=CHAT,
            max_tokens=16,
            temperature=1.0,
            top_p=0.9,
            seed=seed,
            extra_body={"ignore_eos": True},
        )
        return answer.choices[0].message.content or ""

    assert sample(11) == sample(11)
    assert len({sample(11), sample(12), sample(13)}) > 1


def test_the_event_loop_answers_while_a_stream_generates(url: str) -> None:
    """Tokens are sent as generated, and /v1/models answers meanwhile."""
    arrivals: list[float] = []
    started = threading.Event()

    def stream() -> None:
        body = {
            "model": "tiny",
            "prompt": "story 1",
            "max_tokens": 500,
            "temperature": 0,
            "ignore_eos": True,
            "logprobs": 0,  # a chunk for every token, text or not
            "stream": True,
        }
        with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=120) as answer:
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.monotonic())
                    started.set()

    reader = threading.Thread(target=stream)
    reader.start()
    assert started.wait(60)
    asked = time.monotonic()
    models = httpx.get(f"{url}/v1/models", timeout=60)
    answered = time.monotonic()
    reader.join(120)
    assert models.status_code == 200
    assert len(arrivals) == 502  # 500 tokens, the finish, [DONE]
    # the listing came back while the stream was still arriving, quickly
    assert answered < arrivals[-1] and answered - asked < 1.0
    # and the tokens came over time, not all at the end
    assert arrivals[250] - arrivals[0] > 0.2 * (arrivals[-1] - arrivals[0])
