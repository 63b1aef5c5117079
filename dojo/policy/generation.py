"""Constrained sampling of one move per observation, with everything the learner needs.

A :class:`Generation` records, for every completion token, its id, its log-prob
under the distribution it was actually drawn from (temperature applied, masked
to the grammar's allowed ids) and that mask, so
:func:`dojo.policy.logprobs.completion_logprobs` recomputes the same numbers
under newer weights.

Several observations decode in lockstep as one left-padded batch with a KV
cache; each row has its own grammar cursor and its own seeded generator, so a
row's result depends only on its prompt, its seed, the weights and the batch it
was decoded in (padding can move logits by float noise, so a row decoded alone
and in a batch agree in log-probs to ~1e-6, not necessarily bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from dojo.policy.grammar import Cursor, FinishReason, MoveGrammar
from dojo.policy.logprobs import sampling_log_probs


class Generation(BaseModel):
    """One sampled completion and the record needed to score it again."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="the decoded completion (special tokens dropped)")
    prompt: str
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    logprobs: list[float] = Field(
        description="per completion token, of the masked distribution sampled from"
    )
    allowed_token_ids: list[list[int] | None] = Field(
        description="per completion token: None if unconstrained, else the ids the mask allowed"
    )
    temperature: float = Field(gt=0)
    seed: int
    finish_reason: FinishReason

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        n = len(self.completion_token_ids)
        if len(self.logprobs) != n or len(self.allowed_token_ids) != n:
            raise ValueError("completion_token_ids, logprobs and allowed_token_ids must align")
        return self


class SamplingSettings(BaseModel):
    """How completions are sampled; the learner must score with the same temperature."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=1.0, gt=0)
    max_text_tokens: int = Field(
        default=48, ge=0, description="cap on the free-text part of a move"
    )


@dataclass(frozen=True)
class DecodingTokens:
    """The token ids decoding treats specially, computed once per tokenizer."""

    eos_token_id: int
    pad_token_id: int
    stop_token_ids: frozenset[int]
    newline_token_ids: frozenset[int]

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> DecodingTokens:
        eos = getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise ValueError(
                "the tokenizer has no EOS token; constrained decoding needs one to end a move"
            )
        pad = getattr(tokenizer, "pad_token_id", None)
        special = set(getattr(tokenizer, "all_special_ids", ()))
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        newlines = {i for i, piece in enumerate(pieces) if "\n" in piece and i not in special}
        return cls(
            eos_token_id=eos,
            pad_token_id=eos if pad is None else pad,
            stop_token_ids=frozenset(special | {eos}),
            newline_token_ids=frozenset(newlines),
        )


@dataclass(frozen=True)
class Request:
    """One observation's prompt, grammar and seed."""

    prompt: str
    prompt_token_ids: list[int]
    grammar: MoveGrammar
    seed: int


@torch.inference_mode()
def generate(
    model: nn.Module,
    requests: Sequence[Request],
    *,
    tokens: DecodingTokens,
    sampling: SamplingSettings,
    decode: Callable[[list[int]], str],
) -> list[Generation]:
    """Sample one grammatical move per request, in one batch."""
    if not requests:
        return []
    device = next(model.parameters()).device
    batch = len(requests)
    width = max(len(r.prompt_token_ids) for r in requests)
    input_ids = torch.full((batch, width), tokens.pad_token_id, dtype=torch.long)
    attention = torch.zeros((batch, width), dtype=torch.long)
    for i, request in enumerate(requests):
        if not request.prompt_token_ids:
            raise ValueError("empty prompt")
        input_ids[i, width - len(request.prompt_token_ids) :] = torch.tensor(
            request.prompt_token_ids
        )
        attention[i, width - len(request.prompt_token_ids) :] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    next_position = (positions[:, -1] + 1).tolist()
    attention = attention.to(device)
    out = model(
        input_ids=input_ids.to(device),
        attention_mask=attention,
        position_ids=positions.to(device),
        use_cache=True,
        logits_to_keep=1,
    )

    cursors = [
        r.grammar.cursor(sampling.max_text_tokens, tokens.stop_token_ids, tokens.newline_token_ids)
        for r in requests
    ]
    generators = [torch.Generator().manual_seed(r.seed) for r in requests]
    completions: list[list[int]] = [[] for _ in requests]
    logprobs: list[list[float]] = [[] for _ in requests]
    masks: list[list[list[int] | None]] = [[] for _ in requests]

    def record(i: int, token: int, logprob: float, allowed: list[int] | None) -> None:
        cursors[i].advance(token)
        completions[i].append(token)
        logprobs[i].append(logprob)
        masks[i].append(None if allowed is None else list(allowed))

    while True:
        logits = out.logits[:, -1, :]
        fed: list[list[int]] = []
        for i, cursor in enumerate(cursors):
            if cursor.done:
                fed.append([])
                continue
            allowed = cursor.allowed()
            token, logprob = _sample(logits[i], allowed, sampling.temperature, generators[i])
            record(i, token, logprob, allowed)
            row = [token]
            # Jump forward: a token the grammar forces (one allowed id) needs no forward
            # pass to be chosen, so every forced token up to the next real choice goes
            # into the model together with the sampled one.
            while not cursor.done and (forced := cursor.allowed()) is not None and len(forced) == 1:
                record(i, forced[0], 0.0, forced)
                row.append(forced[0])
            fed.append(row)
        if all(c.done for c in cursors):
            break
        if out.past_key_values is None:
            # e.g. gradient checkpointing in train mode turns the cache off; feeding tokens
            # without it would silently score them without their context
            raise RuntimeError("the model returned no KV cache; generate in eval mode")
        # Rows feed different numbers of tokens: each row's are right-aligned in the
        # step and the gap before them is masked out, so every row's last column is
        # real and every real token keeps the position it has in the learner's layout.
        width = max(len(row) for row in fed)
        step = torch.full((batch, width), tokens.pad_token_id, dtype=torch.long)
        step_mask = torch.zeros((batch, width), dtype=torch.long)
        step_positions = torch.zeros((batch, width), dtype=torch.long)
        for i, row in enumerate(fed):
            if row:
                step[i, width - len(row) :] = torch.tensor(row)
                step_mask[i, width - len(row) :] = 1
                step_positions[i, width - len(row) :] = next_position[i] + torch.arange(len(row))
                next_position[i] += len(row)
        attention = torch.cat([attention, step_mask.to(device)], dim=1)
        out = model(
            input_ids=step.to(device),
            attention_mask=attention,
            position_ids=step_positions.to(device),
            past_key_values=out.past_key_values,
            use_cache=True,
        )

    return [
        Generation(
            text=decode(completions[i]),
            prompt=r.prompt,
            prompt_token_ids=list(r.prompt_token_ids),
            completion_token_ids=completions[i],
            logprobs=logprobs[i],
            allowed_token_ids=masks[i],
            temperature=sampling.temperature,
            seed=r.seed,
            finish_reason=_finished(cursors[i]),
        )
        for i, r in enumerate(requests)
    ]


def _sample(
    logits: Tensor, allowed: list[int] | None, temperature: float, generator: torch.Generator
) -> tuple[int, float]:
    if allowed is not None and len(allowed) == 1:
        return allowed[0], 0.0  # forced: no choice, no randomness drawn
    log_probs = sampling_log_probs(logits, allowed, temperature)
    index = int(torch.multinomial(log_probs.exp().cpu(), 1, generator=generator).item())
    token = allowed[index] if allowed is not None else index
    return token, float(log_probs[index].item())


def _finished(cursor: Cursor) -> FinishReason:
    if cursor.finish_reason is None:
        raise RuntimeError("decoding stopped before the completion finished")
    return cursor.finish_reason
