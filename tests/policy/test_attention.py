"""Grouped-query attention without expanded keys, and a cache that appends in place,
compute what transformers' SDPA attention and DynamicCache compute.

A small random Llama with grouped-query attention (6 query heads over 2 KV heads, as
SmolLM2 has 9 over 3) decodes a left-padded batch with a kept cache, both ways.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from dojo.policy import attention
from dojo.policy.attention import GROUPED_SDPA, GrowingCache, use_grouped_sdpa


def grouped_llama(seed: int = 0, kv_heads: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


def decode(model: LlamaForCausalLM, cache: Any, steps: int = 6) -> torch.Tensor:
    """Prefill a left-padded batch of three rows, then decode ``steps`` tokens each;
    every step's next-token logits, stacked."""
    lengths = [9, 4, 7]
    width = max(lengths)
    ids = torch.randint(1, 97, (3, width), generator=torch.Generator().manual_seed(1))
    mask = torch.zeros((3, width), dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, width - n :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = []
    with torch.inference_mode():
        out = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache
        )
        for step in range(steps):
            logits.append(out.logits[:, -1])
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones((3, 1), dtype=torch.long)], dim=1)
            position = torch.tensor([[n + step] for n in lengths])
            out = model(
                input_ids=token,
                attention_mask=mask,
                position_ids=position,
                past_key_values=out.past_key_values,
            )
    return torch.stack(logits)


def test_grouped_attention_and_growing_cache_decode_as_sdpa_and_dynamic_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = decode(grouped_llama(), DynamicCache())
    model = grouped_llama()
    assert use_grouped_sdpa(model)
    assert model.config._attn_implementation == GROUPED_SDPA
    calls = {"stacked": 0}
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def counting(query: torch.Tensor, key: torch.Tensor, *args: Any, **kw: Any) -> Any:
        calls["stacked"] += int(query.shape[1] == key.shape[1] == 2)  # KV heads, unexpanded
        return sdpa(query, key, *args, **kw)

    monkeypatch.setattr(attention.torch.nn.functional, "scaled_dot_product_attention", counting)
    got = decode(model, GrowingCache())
    assert calls["stacked"] > 0  # the grouped path ran
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_the_growing_cache_holds_what_it_was_given_and_appends_in_place() -> None:
    keys, values = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    cache = GrowingCache([(keys, values)])
    layer = cache.layers[0]
    assert layer.get_seq_length() == 5
    torch.testing.assert_close(layer.keys, keys)
    room = layer.keys.untyped_storage().data_ptr()
    more_k, more_v = torch.randn(2, 3, 1, 4), torch.randn(2, 3, 1, 4)
    full_k, full_v = layer.update(more_k, more_v)
    assert layer.get_seq_length() == 6
    assert full_k.untyped_storage().data_ptr() == room  # written into the spare room
    torch.testing.assert_close(full_k, torch.cat([keys, more_k], dim=-2))
    torch.testing.assert_close(full_v, torch.cat([values, more_v], dim=-2))
    # past its room it grows, keeping what it held
    big = torch.randn(2, 3, 200, 4)
    full_k, _ = layer.update(big, big)
    assert layer.get_seq_length() == 206
    torch.testing.assert_close(full_k[:, :, :5], keys)
    torch.testing.assert_close(full_k[:, :, 6:], big)


def test_models_without_grouped_queries_keep_their_attention() -> None:
    model = grouped_llama(kv_heads=6)  # one KV head per query head: nothing grouped
    assert not use_grouped_sdpa(model)
    assert model.config._attn_implementation == "sdpa"


def test_training_keeps_transformers_attention_and_its_gradients() -> None:
    model = grouped_llama()
    use_grouped_sdpa(model)
    model.train()
    ids = torch.randint(1, 97, (2, 8))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    loss = model(input_ids=ids, attention_mask=mask).logits.sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
