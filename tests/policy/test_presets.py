"""Presets and model resolution: tiny, the DeepSeek preset (offline failure, local miniature), any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, DeepseekV2Config, DeepseekV2ForCausalLM

from dojo.config import Settings
from dojo.env.moves import parse_move
from dojo.policy import LMPolicy, SamplingSettings, resolve_model
from dojo.policy.lora import ALL_LINEAR
from dojo.policy.presets import DEEPSEEK_CODER_V2_LITE, TINY
from dojo.policy.tiny_base import MARKER

from .observations import MOVES, observation

# the shape of DeepSeek-Coder-V2-Lite-Instruct's template: system text, "User: …", then "Assistant:"
DEEPSEEK_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n\n"
    "{% else %}Assistant: {{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def test_names_resolve_to_sources(settings: Settings, tiny_dir: Path) -> None:
    tiny = resolve_model("tiny", settings.data_dir)
    assert (tiny.preset, tiny.location, tiny.base_id) == (TINY, str(tiny_dir), tiny_dir.name)
    assert (
        resolve_model(str(tiny_dir), settings.data_dir).preset is TINY
    )  # a built tiny folder is tiny
    deepseek = resolve_model("deepseek-coder-v2-lite-instruct", settings.data_dir)
    assert deepseek.location == deepseek.base_id == "deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct"
    assert resolve_model("someone/some-model", settings.data_dir).lora_targets(None) == ALL_LINEAR
    with pytest.raises(ValueError, match="not a preset"):
        resolve_model("tinyy", settings.data_dir)


def test_deepseek_preset_without_weights_fails_clearly_offline(tmp_path: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from dojo.config import Settings\n"
        "from dojo.policy import LMPolicy, ModelUnavailableError\n"
        "try:\n"
        f"    LMPolicy.load('deepseek-coder-v2-lite-instruct', settings=Settings(data_dir=Path({str(tmp_path)!r})))\n"
        "except ModelUnavailableError as err:\n"
        "    print('UNAVAILABLE', err)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "UNAVAILABLE" in done.stdout
    assert "deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct" in done.stdout
    assert (
        str(tmp_path / "models" / "deepseek-coder-v2-lite-instruct") in done.stdout
    )  # where to put it


@pytest.fixture(scope="module")
def deepseek_miniature(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Settings:
    """A DeepSeek-V2 miniature with a DeepSeek-style chat template, where the preset looks first."""
    data_dir = tmp_path_factory.mktemp("deepseek-data")
    folder = data_dir / "models" / DEEPSEEK_CODER_V2_LITE.name
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.chat_template = DEEPSEEK_STYLE_TEMPLATE
    config = DeepseekV2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        kv_lora_rank=16,
        q_lora_rank=None,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=8,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        first_k_dense_replace=1,
        n_group=1,
        topk_group=1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    DeepseekV2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Settings(data_dir=data_dir)


def test_deepseek_preset_loads_a_local_copy_and_acts_through_its_chat_template(
    deepseek_miniature: Settings,
) -> None:
    policy = LMPolicy.load(
        "deepseek-coder-v2-lite-instruct",
        settings=deepseek_miniature,
        trainable=True,
        sampling=SamplingSettings(max_text_tokens=6),
    )
    assert policy.source.location == str(
        deepseek_miniature.data_dir / "models" / DEEPSEEK_CODER_V2_LITE.name
    )
    assert policy.version == "deepseek-coder-v2-lite-instruct-base"
    assert policy.prompt_format.chat and policy.prompt_format.completion_prefix == " "
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    adapted = sorted(
        {n.split(".")[-4] for n, _ in policy.model.named_parameters() if ".lora_A." in n}
    )
    assert adapted == ["kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "q_proj"]
    generations = policy.act_batch([observation(), observation("Short.")], [0, 1])
    for g in generations:
        assert g.prompt.endswith("Assistant:") and "User: " in g.prompt
        # (the stand-in tokenizer is the tiny one: its grammar words take the completion
        # prefix's space into their token, so the decoded text may not start with it)
        assert parse_move(g.text, MOVES).valid
    with torch.no_grad():
        scores = policy.score(generations)
    for row, g in enumerate(generations):
        # bfloat16 weights: the cached and the full forward round differently
        assert scores.logprobs[row, : len(g.logprobs)].tolist() == pytest.approx(
            g.logprobs, abs=0.05
        )


def test_any_model_folder_loads_as_a_generic_causal_lm(
    tmp_path: Path, tiny_dir: Path, settings: Settings
) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(tiny_dir, folder)
    (folder / MARKER).unlink()
    policy = LMPolicy.load(str(folder), settings=settings, trainable=True)
    assert policy.source.preset is None and policy.version == "my-model-base"
    assert not policy.prompt_format.chat  # no chat template: the plain one
    adapted = {n.split(".")[-4] for n, _ in policy.model.named_parameters() if ".lora_A." in n}
    assert adapted == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }  # all-linear
    assert parse_move(policy.act(observation(), 0).text, MOVES).valid


def test_the_learner_batch_is_the_presets_unless_configured(tmp_path: Path) -> None:
    from dojo.policy.presets import learner_batch_size

    def batch(**kw: object) -> int:
        return learner_batch_size(Settings(data_dir=tmp_path, **kw))  # type: ignore[arg-type]

    assert batch(policy="tiny") == 16
    assert batch(policy="smollm2-135m-instruct") == 4  # a real model's updates cost more
    assert batch(policy=str(tmp_path / "some-model-folder")) == 16
    assert batch(policy="smollm2-135m-instruct", learner_batch_size=9) == 9
