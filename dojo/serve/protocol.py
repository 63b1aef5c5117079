"""The OpenAI API's requests (validated) and answers, as ``dojo serve`` speaks them.

Requests: ``POST /v1/chat/completions`` and ``POST /v1/completions``, with the
parameters Dojo supports; a parameter it does not support is refused when it asks
for something (``n`` > 1, penalties, tools …), and ignored when it does not
matter here (``user``, ``metadata`` …).

Log-probs carry token ids as extra fields, as vLLM's server offers them: in a chat
answer every entry of ``logprobs.content`` (and of its ``top_logprobs``) has a
``token_id``; a completion's ``logprobs`` has ``token_ids`` beside ``tokens`` and
``top_token_logprobs`` (per token, the top ``[{token_id, token, logprob}]``) beside
``top_logprobs`` (whose keys are decoded text, which two ids may share).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.serve.engine import Delta, Finished, GenerationParams, Prompt, TokenLogprob
from dojo.serve.errors import bad_request

MAX_TOP_LOGPROBS = 20
MAX_STOP_STRINGS = 16
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _Request(BaseModel):
    """What chat and text completions share."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: Seed | None = None
    stop: (
        Annotated[str, Field(min_length=1)]
        | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOP_STRINGS)]
        | None
    ) = None
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    ignore_eos: bool = False  # vLLM's extension

    def _params(self, max_tokens: int | None, logprobs: int | None) -> GenerationParams:
        if self.n not in (None, 1):
            raise bad_request("only n=1 is supported: send the request n times", "n")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise bad_request(f"{name} is not supported", name)
        if self.logit_bias:
            raise bad_request("logit_bias is not supported", "logit_bias")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return GenerationParams(
            max_tokens=max_tokens,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            seed=self.seed,
            stop=stop,
            logprobs=logprobs,
            ignore_eos=self.ignore_eos,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def for_template(self) -> dict[str, str]:
        content = self.content
        if isinstance(content, list):
            content = "".join(part.text for part in content)
        # "developer" is the newer name of "system"; templates know the older
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": content or ""}


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    tools: list[Any] | None = None
    response_format: dict[str, Any] | None = None

    def prompt(self) -> Prompt:
        return Prompt(messages=[m.for_template() for m in self.messages])

    def params(self) -> GenerationParams:
        if self.tools:
            raise bad_request("tools are not supported", "tools")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise bad_request("only text responses are supported", "response_format")
        if self.top_logprobs and not self.logprobs:
            raise bad_request("top_logprobs needs logprobs: true", "top_logprobs")
        logprobs = (self.top_logprobs or 0) if self.logprobs else None
        return self._params(self.max_completion_tokens or self.max_tokens, logprobs)


class CompletionRequest(_Request):
    prompt: (
        str
        | list[int]
        | Annotated[list[str], Field(min_length=1, max_length=1)]
        | Annotated[list[list[int]], Field(min_length=1, max_length=1)]
    )
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1)

    def to_prompt(self) -> Prompt:
        prompt = self.prompt
        if isinstance(prompt, str):
            return Prompt(text=prompt)
        if prompt and isinstance(prompt[0], str):
            return Prompt(text=prompt[0])  # one prompt of a batch of one
        if prompt and isinstance(prompt[0], list):
            return Prompt(token_ids=list(prompt[0]))
        return Prompt(token_ids=[i for i in prompt if isinstance(i, int)])

    def params(self) -> GenerationParams:
        if self.echo:
            raise bad_request("echo is not supported", "echo")
        if self.suffix:
            raise bad_request("suffix is not supported", "suffix")
        if self.best_of not in (None, 1):
            raise bad_request("only best_of=1 is supported", "best_of")
        return self._params(self.max_tokens, self.logprobs)


# --- answers ------------------------------------------------------------------------------


def usage(finished: Finished) -> dict[str, int]:
    return {
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": finished.completion_tokens,
        "total_tokens": finished.prompt_tokens + finished.completion_tokens,
    }


def chat_logprob(record: TokenLogprob) -> dict[str, Any]:
    """One entry of a chat answer's ``logprobs.content``."""
    return {
        "token": record.token,
        "logprob": record.logprob,
        "bytes": list(record.token.encode()),
        "token_id": record.token_id,
        "top_logprobs": [
            {
                "token": top.token,
                "logprob": top.logprob,
                "bytes": list(top.token.encode()),
                "token_id": top.token_id,
            }
            for top in record.top
        ],
    }


def completion_logprobs(records: list[TokenLogprob], offset: int) -> dict[str, Any]:
    """A completion's ``logprobs`` for ``records``, the first at text offset ``offset``."""
    offsets = []
    for record in records:
        offsets.append(offset)
        offset += len(record.token)
    return {
        "tokens": [r.token for r in records],
        "token_logprobs": [r.logprob for r in records],
        "top_logprobs": [{t.token: t.logprob for t in r.top} for r in records],
        "text_offset": offsets,
        "token_ids": [r.token_id for r in records],
        "top_token_logprobs": [
            [{"token_id": t.token_id, "token": t.token, "logprob": t.logprob} for t in r.top]
            for r in records
        ],
    }


def logprob_records(deltas: list[Delta]) -> list[TokenLogprob]:
    return [d.logprob for d in deltas if d.logprob is not None]
