"""LoRA and QLoRA on the tiny base; the DeepSeek preset's targets on a miniature DeepSeek-V2."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import bitsandbytes as bnb
import pytest
import torch
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

from dojo.policy import LMPolicy, LoraSettings, MissingLoraTargetsError, check_lora_targets
from dojo.policy.lora import attach_lora
from dojo.policy.presets import DEEPSEEK_CODER_V2_LITE

from .observations import observation


def logits(policy: LMPolicy) -> torch.Tensor:
    ids = torch.tensor([policy.prompt_format.encode(policy.prompt_format.render(observation()))])
    with torch.no_grad():
        return policy.model(input_ids=ids).logits


def ppo_like_step(policy: LMPolicy, steps: int = 1) -> None:
    generations = policy.act_batch([observation(), observation("Short.")], [0, 1])
    trainable = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    policy.model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        (-policy.score(generations).logprobs.sum()).backward()
        optimizer.step()
    policy.model.eval()


def split_state(policy: LMPolicy) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(adapter weights, base weights): the adapter is the LoRA matrices and the trained
    copies of modules saved in full (the tiny preset's output head)."""
    state = {k: v.detach().clone() for k, v in policy.model.state_dict().items()}
    adapter = {k: v for k, v in state.items() if "lora_" in k or ".modules_to_save." in k}
    base = {k: v for k, v in state.items() if k not in adapter}
    return adapter, base


def test_a_missing_target_fails_loudly_naming_it(load_tiny: Callable[..., LMPolicy]) -> None:
    with pytest.raises(MissingLoraTargetsError) as caught:
        load_tiny(trainable=True, lora=LoraSettings(target_modules=("q_proj", "qkv_proj")))
    assert caught.value.missing == ("qkv_proj",)
    assert "qkv_proj" in str(caught.value) and "q_proj, " in str(caught.value)  # lists what exists
    # checked at load time even when no adapter will be attached
    with pytest.raises(MissingLoraTargetsError):
        load_tiny(lora=LoraSettings(target_modules=("wq",)))


def test_a_target_that_is_not_a_layer_is_refused(tiny: LMPolicy) -> None:
    with pytest.raises(MissingLoraTargetsError) as caught:
        check_lora_targets(tiny.model, ["q_proj", "self_attn"])
    assert caught.value.unsupported == ("self_attn",) and caught.value.missing == ()


def test_training_moves_lora_weights_and_leaves_the_base_bit_identical(
    load_tiny: Callable[..., LMPolicy], tiny: LMPolicy
) -> None:
    policy = load_tiny(trainable=True)
    assert torch.equal(logits(policy), logits(tiny))  # a fresh adapter is the base
    lora_before, base_before = split_state(policy)
    ppo_like_step(policy)
    lora_after, base_after = split_state(policy)
    assert any(not torch.equal(lora_before[k], lora_after[k]) for k in lora_before)
    assert base_before.keys() == base_after.keys()
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    assert not torch.allclose(logits(policy), logits(tiny))


def test_reference_policy_is_the_base_with_the_adapter_off(
    load_tiny: Callable[..., LMPolicy], tiny: LMPolicy
) -> None:
    policy = load_tiny(trainable=True)
    ppo_like_step(policy)
    with policy.reference():
        assert torch.equal(logits(policy), logits(tiny))
    assert not torch.allclose(logits(policy), logits(tiny))  # the adapter is back on
    with tiny.reference():  # a policy without an adapter is its own reference
        assert torch.equal(logits(tiny), logits(tiny))


def test_qlora_tiny_loads_in_4bit_and_trains_on_cpu(load_tiny: Callable[..., LMPolicy]) -> None:
    policy = load_tiny(qlora=True, trainable=True)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in policy.model.modules())
    lora_before, base_before = split_state(policy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ppo_like_step(policy, steps=2)  # generation (eval, no grad) then training, as in the system
    assert not [w for w in caught if "autograd kernel" in str(w.message)]
    lora_after, base_after = split_state(policy)
    assert any(not torch.equal(lora_before[k], lora_after[k]) for k in lora_before)
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    g = policy.act(observation(), 5)
    policy.model.train()  # the learner scores in train mode, with gradients
    assert policy.score([g]).logprobs[0].tolist() == pytest.approx(g.logprobs, abs=1e-5)


def miniature_deepseek_v2(q_lora_rank: int | None) -> DeepseekV2ForCausalLM:
    """The Lite layout in miniature: MLA attention, a dense first layer, then MoE."""
    config = DeepseekV2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        kv_lora_rank=16,
        q_lora_rank=q_lora_rank,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=8,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        first_k_dense_replace=1,
        n_group=1,
        topk_group=1,
    )
    torch.manual_seed(0)
    return DeepseekV2ForCausalLM(config)


@pytest.mark.parametrize("q_lora_rank", [None, 16], ids=["lite-queries", "full-v2-queries"])
def test_deepseek_preset_targets_every_mla_projection_of_deepseek_v2(
    q_lora_rank: int | None,
) -> None:
    model = miniature_deepseek_v2(q_lora_rank)
    targets = DEEPSEEK_CODER_V2_LITE.lora_targets(model.config)
    check_lora_targets(model, targets)
    peft_model = attach_lora(model, targets, LoraSettings())
    wrapped = {
        n.split(".lora_A.")[0].removeprefix("base_model.model.")
        for n, _ in peft_model.named_parameters()
        if ".lora_A." in n
    }
    expected = {f"model.layers.{layer}.self_attn.{t}" for layer in (0, 1) for t in targets}
    assert wrapped == expected
    out = peft_model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    out.logits.sum().backward()
    with pytest.raises(MissingLoraTargetsError):
        # the full-V2 query pair does not exist in a Lite-shaped model, and vice versa
        check_lora_targets(model, ["q_proj"] if q_lora_rank else ["q_a_proj", "q_b_proj"])


@pytest.mark.filterwarnings("ignore:The following (rank|alpha)_pattern keys:RuntimeWarning")
def test_peft_rewriting_moe_targets_into_expert_parameters_is_refused() -> None:
    model = miniature_deepseek_v2(None)
    targets = ("q_proj", "gate_proj", "up_proj", "down_proj")
    check_lora_targets(model, targets)  # the modules exist (dense layer, shared experts) ...
    with pytest.raises(ValueError, match=r"rewrote.*down_proj, gate_proj, up_proj"):
        attach_lora(
            model, targets, LoraSettings()
        )  # ... but PEFT would adapt the routed experts instead
