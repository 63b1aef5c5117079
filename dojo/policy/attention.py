"""Decoding over long kept conversations without copying their KV caches at every token.

Two copies made every decoded token cost more than the model's weights once a worker
kept sixteen conversations of a few thousand tokens each (SmolLM2: 46 KB of float32
keys and values a token, 2.6 GB for such a batch):

* transformers' SDPA attention expands a grouped-query model's keys and values to
  one head per query head (``repeat_kv``) whenever there is an attention mask — and
  a batch of conversations of different lengths always has one. SmolLM2 has 9 query
  heads over 3 KV heads: 7.7 GB written and read again per token.
  :func:`grouped_sdpa` instead stacks the query heads that share a KV head along the
  query axis, so the keys and values are read as they are (SDPA broadcasts the mask).
  It serves inference only (no gradients): the learner's scoring, which reads a
  whole conversation once, keeps transformers' own path.
* a :class:`~transformers.DynamicCache` layer appends each token with ``torch.cat``,
  a copy of the whole cache. :class:`GrowingLayer` writes it into spare room instead
  (the capacity grows by half when it runs out), and its keys and values are views.

Measured on one core for 16 rows of 3,500 tokens, per layer and decoded token: SDPA
with the expansion 868 ms, stacked 58 ms; ``torch.cat`` of the keys 107 ms.
The results are the same to float tolerance (tests/policy/test_attention.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import Cache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

#: the attention implementation name models are switched to (:func:`use_grouped_sdpa`)
GROUPED_SDPA = "dojo_grouped_sdpa"


def grouped_sdpa(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """transformers' SDPA attention, without expanding grouped keys and values."""
    groups = int(getattr(module, "num_key_value_groups", 1))
    batch, heads, length, dim = query.shape
    # a 4-D mask with one row set for every head (transformers' own), or one query token
    # with no mask (it sees every cached token: no causal pattern to keep)
    shared_mask = (
        attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[1] == 1
    )
    if (
        groups == 1
        or torch.is_grad_enabled()
        or dropout
        or kwargs.get("position_bias") is not None
        or not (shared_mask or (attention_mask is None and length == 1))
    ):
        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            is_causal=is_causal,
            **kwargs,
        )
    # query heads j*groups … j*groups+groups-1 read KV head j (repeat_kv's order): as
    # rows of one head, each group's queries come one after another along the query axis
    stacked = query.reshape(batch, key.shape[1], groups * length, dim)
    mask = None
    if attention_mask is not None:
        mask = attention_mask[:, :, :, : key.shape[-2]].repeat(1, 1, groups, 1)
    out = torch.nn.functional.scaled_dot_product_attention(
        stacked, key, value, attn_mask=mask, scale=scaling
    )
    return out.reshape(batch, heads, length, dim).transpose(1, 2).contiguous(), None


def use_grouped_sdpa(model: Any) -> bool:
    """Switch a grouped-query model that uses SDPA attention to :func:`grouped_sdpa`;
    False (and nothing changed) for any other."""
    config = model.config
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", heads)
    if heads is None or kv_heads is None or kv_heads >= heads:
        return False
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(GROUPED_SDPA, grouped_sdpa)
    AttentionMaskInterface.register(GROUPED_SDPA, sdpa_mask)
    model.set_attn_implementation(GROUPED_SDPA)
    return True


class GrowingLayer(DynamicLayer):
    """A :class:`~transformers.cache_utils.DynamicLayer` that appends in place: its keys
    and values are views of buffers with room to spare."""

    def lazy_initialization(self, key_states: Tensor, value_states: Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._room: tuple[Tensor, Tensor] | None = None

    def update(
        self, key_states: Tensor, value_states: Tensor, *args: Any, **kwargs: Any
    ) -> tuple[Tensor, Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        held = self.get_seq_length()
        needed = held + key_states.shape[-2]
        if self._room is None or needed > self._room[0].shape[-2]:
            capacity = needed + max(needed // 2, 64)
            keys = key_states.new_empty((*key_states.shape[:2], capacity, key_states.shape[-1]))
            values = value_states.new_empty(
                (*value_states.shape[:2], capacity, value_states.shape[-1])
            )
            if held and self.keys is not None and self.values is not None:
                keys[:, :, :held] = self.keys
                values[:, :, :held] = self.values
            self._room = (keys, values)
        keys, values = self._room
        keys[:, :, held:needed] = key_states
        values[:, :, held:needed] = value_states
        self.keys, self.values = keys[:, :, :needed], values[:, :, :needed]
        return self.keys, self.values


class GrowingCache(DynamicCache):
    """A :class:`~transformers.DynamicCache` of :class:`GrowingLayer` layers, holding
    ``layers`` (per layer: keys and values, batch first) to start with."""

    def __init__(self, layers: Sequence[tuple[Tensor, Tensor]] = ()) -> None:
        if not layers:
            Cache.__init__(self, layer_class_to_replicate=GrowingLayer)
            return
        grown: list[Any] = [GrowingLayer() for _ in layers]
        for layer, (keys, values) in zip(grown, layers, strict=True):
            layer.update(keys, values)
        Cache.__init__(self, layers=grown)
