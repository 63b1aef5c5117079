"""Constrained generation and the learner's re-scoring of what was generated."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from dojo.env.moves import parse_move
from dojo.policy import Generation, LMPolicy, SamplingSettings, completion_logprobs

from .observations import MOVES, observation

OBSERVATIONS = [
    observation(),
    observation("Short.", step=3),
    observation(
        "A much longer situation. " * 12 + "The deadline moved; the auditors want logs.", step=7
    ),
]


def test_every_generation_is_a_valid_move_with_a_consistent_record(tiny: LMPolicy) -> None:
    names = set()
    for seed in range(12):
        g = tiny.act(OBSERVATIONS[seed % 3], seed)
        move = parse_move(g.text, MOVES)
        assert move.valid, (g.text, move.error)
        names.add(move.name)
        assert g.prompt_token_ids == tiny.prompt_format.encode(g.prompt)
        for token, logprob, allowed in zip(
            g.completion_token_ids, g.logprobs, g.allowed_token_ids, strict=True
        ):
            assert logprob <= 0.0
            if allowed is not None:
                assert token in allowed
                assert (logprob == 0.0) == (len(allowed) == 1)  # forced tokens cost nothing
    assert len(names) >= 3  # sampling really explores the move set


def test_same_seed_same_generation_other_seed_other_generation(tiny: LMPolicy) -> None:
    first = [tiny.act(OBSERVATIONS[0], seed) for seed in range(6)]
    again = [tiny.act(OBSERVATIONS[0], seed) for seed in range(6)]
    assert [g.model_dump() for g in first] == [g.model_dump() for g in again]
    assert len({tuple(g.completion_token_ids) for g in first}) >= 3


def test_batched_rows_match_single_rows(tiny: LMPolicy) -> None:
    batch = tiny.act_batch(OBSERVATIONS, [11, 12, 13])
    assert [g.model_dump() for g in batch] == [
        g.model_dump() for g in tiny.act_batch(OBSERVATIONS, [11, 12, 13])
    ]
    for obs, seed, row in zip(OBSERVATIONS, [11, 12, 13], batch, strict=True):
        alone = tiny.act(obs, seed)
        assert alone.completion_token_ids == row.completion_token_ids
        assert alone.logprobs == pytest.approx(row.logprobs, abs=1e-5)


def test_free_text_is_capped_and_closed_moves_end_with_eos(
    load_tiny: Callable[..., LMPolicy],
) -> None:
    policy = load_tiny(sampling=SamplingSettings(max_text_tokens=3))
    for seed in range(10):
        g = policy.act(OBSERVATIONS[0], seed)
        free = [a for a in g.allowed_token_ids if a is None]
        assert len(free) <= 3
        if free:
            assert g.finish_reason in {"length", "newline", "eos"}
            assert g.finish_reason != "length" or len(free) == 3
        else:
            assert g.finish_reason == "eos"
            assert g.completion_token_ids[-1] == policy.tokens.eos_token_id


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_rescoring_reproduces_sampled_logprobs(
    load_tiny: Callable[..., LMPolicy], temperature: float
) -> None:
    policy = load_tiny(sampling=SamplingSettings(temperature=temperature, max_text_tokens=12))
    generations = policy.act_batch(OBSERVATIONS * 2, list(range(6)))
    generations.append(policy.act(OBSERVATIONS[1], 99))
    with torch.no_grad():
        scores = policy.score(generations)
    for row, g in enumerate(generations):
        n = len(g.completion_token_ids)
        assert scores.mask[row].sum() == n
        assert scores.logprobs[row, :n].tolist() == pytest.approx(g.logprobs, abs=1e-5)
        for t, allowed in enumerate(g.allowed_token_ids):
            entropy = float(scores.entropy[row, t])
            if allowed is not None and len(allowed) == 1:
                assert entropy == 0.0
            else:
                width = len(allowed) if allowed is not None else len(policy.tokenizer)
                assert 0.0 < entropy <= math.log(width) + 1e-4
        assert bool((scores.logprobs[row, n:] == 0).all())


def test_rescoring_is_differentiable_without_nans(load_tiny: Callable[..., LMPolicy]) -> None:
    policy = load_tiny(trainable=True, sampling=SamplingSettings(max_text_tokens=6))
    generations = policy.act_batch(OBSERVATIONS, [1, 2, 3])
    scores = policy.score(generations)
    (scores.logprobs.sum() + scores.entropy.sum()).backward()
    grads = [p.grad for n, p in policy.model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_rescoring_refuses_a_token_outside_its_mask(tiny: LMPolicy) -> None:
    g: Generation = tiny.act(OBSERVATIONS[0], 0)
    allowed = [list(a) if a is not None else None for a in g.allowed_token_ids]
    allowed[0] = [t for t in allowed[0] or [] if t != g.completion_token_ids[0]] or [
        g.completion_token_ids[0] + 1
    ]
    with pytest.raises(ValueError, match="outside its mask"):
        completion_logprobs(tiny.model, [g.prompt_token_ids], [g.completion_token_ids], [allowed])
