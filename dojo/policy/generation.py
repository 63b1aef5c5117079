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

A request may continue a conversation (:mod:`dojo.policy.conversation`): it then
brings the KV cache of the conversation's first tokens (``Request.past``, one
sequence's, without padding) and feeds only the ids after them. The batch's caches
are stacked left-padded to the longest, with the padding masked out and every
row's positions counted over its real tokens, so a row computes what it would
alone; :func:`continue_conversations` hands each row's cache back, padding dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from dojo.policy.attention import GrowingCache
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
    context_offset: int = Field(
        default=0,
        ge=0,
        description="conversation tokens before prompt_token_ids; 0: the prompt is whole",
    )
    context_restarted: bool = Field(
        default=False,
        description="a conversation started afresh here: continuing it would overflow the context",
    )
    prefilled_tokens: int = Field(
        default=0, ge=0, description="prompt tokens the model read for this decision"
    )

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


#: one sequence's KV cache: per layer (keys, values), each (1, kv heads, tokens, head dim)
PastKeyValues = tuple[tuple[Tensor, Tensor], ...]


@dataclass(frozen=True)
class Request:
    """One observation's prompt, grammar and seed.

    A conversation's later turn also brings ``past``, the KV cache of the
    conversation's first tokens, and ``feed_token_ids``, the ids after them (what
    the cache lacks of the conversation, then this turn's ``prompt_token_ids``);
    ``context_offset`` and ``context_restarted`` go onto the :class:`Generation`.
    """

    prompt: str
    prompt_token_ids: list[int]
    grammar: MoveGrammar
    seed: int
    past: PastKeyValues | None = None
    feed_token_ids: list[int] | None = None
    context_offset: int = 0
    context_restarted: bool = False

    @property
    def feed(self) -> list[int]:
        return self.prompt_token_ids if self.feed_token_ids is None else self.feed_token_ids


def generate(
    model: nn.Module,
    requests: Sequence[Request],
    *,
    tokens: DecodingTokens,
    sampling: SamplingSettings,
    decode: Callable[[list[int]], str],
) -> list[Generation]:
    """Sample one grammatical move per request, in one batch."""
    return [g for g, _ in _generate(model, requests, tokens, sampling, decode, keep_cache=False)]


def continue_conversations(
    model: nn.Module,
    requests: Sequence[Request],
    *,
    tokens: DecodingTokens,
    sampling: SamplingSettings,
    decode: Callable[[list[int]], str],
) -> list[tuple[Generation, PastKeyValues]]:
    """Like :func:`generate`, and each row's KV cache afterwards: over the row's
    ``past`` and every token fed to it since (the last tokens sampled may not be in it
    yet: a completion's final step needs no forward pass)."""
    pairs = _generate(model, requests, tokens, sampling, decode, keep_cache=True)
    return [(g, past) for g, past in pairs if past is not None]


@torch.inference_mode()
def _generate(
    model: nn.Module,
    requests: Sequence[Request],
    tokens: DecodingTokens,
    sampling: SamplingSettings,
    decode: Callable[[list[int]], str],
    *,
    keep_cache: bool,
) -> list[tuple[Generation, PastKeyValues | None]]:
    if not requests:
        return []
    device = next(model.parameters()).device
    batch = len(requests)
    held = [0 if r.past is None else int(r.past[0][0].shape[2]) for r in requests]
    next_position = [h + len(r.feed) for h, r in zip(held, requests, strict=True)]
    # Only conversations are grouped: their rows' feeds range from a few tokens to a
    # whole first prompt, where whole prompts (and the tiny preset's short ones) are alike
    groups = prefill_groups([len(r.feed) for r in requests]) if keep_cache else [[]]
    if len(groups) == 1:
        logits, past, attention = _prefill(model, requests, held, tokens.pad_token_id, device)
    else:
        # each group prefilled on its own, then every row's cache stacked into one batch
        # for the decoding steps, which feed a token or a few per row
        row_caches: list[PastKeyValues | None] = [None] * batch
        row_logits: list[Tensor | None] = [None] * batch
        for group in groups:
            part = [requests[i] for i in group]
            part_logits, part_past, part_attention = _prefill(
                model, part, [held[i] for i in group], tokens.pad_token_id, device
            )
            split = _split(part_past, part_attention)
            for k, (j, cache) in enumerate(zip(group, split, strict=True)):
                row_caches[j] = cache
                row_logits[j] = part_logits[k]
        width = max(next_position)
        past = _stack(row_caches, next_position, width)
        attention = _right_mask(next_position, width).to(device)
        logits = torch.stack([t for t in row_logits if t is not None])

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
        if past is None:
            # e.g. gradient checkpointing in train mode turns the cache off; feeding tokens
            # without it would silently score them without their context
            raise RuntimeError("the model returned no KV cache; generate in eval mode")
        # rows feed different numbers of tokens (forced ones jump ahead): right-aligned
        step, step_mask, step_positions = _right_aligned(fed, next_position, tokens.pad_token_id)
        for i, row in enumerate(fed):
            next_position[i] += len(row)
        attention = torch.cat([attention, step_mask.to(device)], dim=1)
        out = model(
            input_ids=step.to(device),
            attention_mask=attention,
            position_ids=step_positions.to(device),
            past_key_values=past,
            use_cache=True,
        )
        logits, past = out.logits[:, -1, :], out.past_key_values

    if keep_cache and past is None:
        raise RuntimeError("the model returned no KV cache; generate in eval mode")
    caches = _split(past, attention) if keep_cache else [None] * batch
    return [
        (
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
                context_offset=r.context_offset,
                context_restarted=r.context_restarted,
                prefilled_tokens=len(r.feed),
            ),
            caches[i],
        )
        for i, r in enumerate(requests)
    ]


#: a forward pass's fixed cost in prefilled tokens' worth: a pass reads every weight
#: once (about 95 ms for SmolLM2 on a CPU core, where a prefilled token costs about
#: 3 ms), and a batch prefilled in parts has every row's cache copied once more
PASS_OVERHEAD_TOKENS = 64


def prefill_groups(lengths: Sequence[int], overhead: int = PASS_OVERHEAD_TOKENS) -> list[list[int]]:
    """The rows (indices into ``lengths``, the tokens each row feeds) to prefill together.

    A left-padded batch computes every row at its longest row's width: a conversation
    that starts (its whole first prompt, hundreds of tokens) beside fifteen that go on
    (tens of tokens each) would have all sixteen computed at the first one's width, as
    if none kept a cache. Rows sorted by length join the group before them while
    padding that group to their length costs less than a forward pass of their own.
    """
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if groups and (lengths[i] - lengths[groups[-1][-1]]) * len(groups[-1]) <= overhead:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _prefill(
    model: nn.Module,
    requests: Sequence[Request],
    held: Sequence[int],
    pad_token_id: int,
    device: torch.device,
) -> tuple[Tensor, Any, Tensor]:
    """One forward pass over the rows' new tokens, each row's cache stacked under them:
    the next-token logits of each row, the batch's cache and its attention mask."""
    if any(not r.feed for r in requests):
        raise ValueError("empty prompt")
    held_width = max(held)
    input_ids, feed_mask, positions = _right_aligned([r.feed for r in requests], held, pad_token_id)
    # a row's cached tokens end where the batch's cache ends, its new ones are
    # right-aligned: the padding between is masked out
    attention = torch.cat([_right_mask(held, held_width), feed_mask], dim=1).to(device)
    past = (
        GrowingCache() if held_width == 0 else _stack([r.past for r in requests], held, held_width)
    )
    out = model(
        input_ids=input_ids.to(device),
        attention_mask=attention,
        position_ids=positions.to(device),
        past_key_values=past,
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1, :], out.past_key_values, attention


def _right_aligned(
    rows: Sequence[Sequence[int]], starts: Sequence[int], pad_token_id: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Rows of different lengths as one block, each right-aligned so that every row's
    last column is real: the token ids (padding before), their attention mask, and
    positions that go on from each row's ``starts`` (its tokens already in the cache),
    so that every real token keeps the position it has in the learner's layout."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, start) in enumerate(zip(rows, starts, strict=True)):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
            positions[i, width - len(row) :] = start + torch.arange(len(row))
    return ids, mask, positions


def _right_mask(lengths: Sequence[int], width: int) -> Tensor:
    """The attention mask of rows of ``lengths`` tokens right-aligned in ``width`` columns."""
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for i, length in enumerate(lengths):
        mask[i, width - length :] = 1
    return mask


def _stack(pasts: Sequence[PastKeyValues | None], held: Sequence[int], width: int) -> GrowingCache:
    """One batch cache from per-sequence caches: each row right-aligned in ``width``
    columns (zeros before it, which the attention mask hides)."""
    reference = next(p for p in pasts if p is not None)
    layers = []
    for layer, (keys, values) in enumerate(reference):
        batch_keys = keys.new_zeros((len(pasts), keys.shape[1], width, keys.shape[3]))
        batch_values = values.new_zeros((len(pasts), values.shape[1], width, values.shape[3]))
        for i, past in enumerate(pasts):
            if past is not None:
                batch_keys[i, :, width - held[i] :] = past[layer][0][0]
                batch_values[i, :, width - held[i] :] = past[layer][1][0]
        layers.append((batch_keys, batch_values))
    return GrowingCache(layers)


def _split(cache: Any, attention: Tensor) -> list[PastKeyValues | None]:
    """Each row's cache without its padding: the columns its attention mask keeps."""
    rows: list[PastKeyValues | None] = []
    for i in range(attention.shape[0]):
        keep = attention[i].nonzero().squeeze(-1)
        rows.append(
            tuple(
                (
                    layer.keys[i : i + 1].index_select(2, keep),
                    layer.values[i : i + 1].index_select(2, keep),
                )
                for layer in cache.layers
            )
        )
    return rows


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
