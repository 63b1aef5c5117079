"""``dojo export``: a trained tiny adapter as a PEFT folder, or merged into its base; each
loads with plain transformers / PEFT to the logits Dojo computes with base + adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import Settings
from dojo.policy import AdapterManifest, AdapterRegistry, LMPolicy
from dojo.policy.presets import DEEPSEEK_CODER_V2_LITE, SMOLLM2_135M_INSTRUCT, ModelSource
from dojo.policy.registry import registry_root
from dojo.serve.export import ExportError, base_reference, export_adapter
from dojo.workers.supervisor import child_environment

from .conftest import publish, trained_policy

TEXT = "E-1.1 elicitation 2\n- done: ac3\n> what is the risk?"


@pytest.fixture
def published(fresh_settings: Settings) -> tuple[Settings, AdapterManifest]:
    return fresh_settings, publish(fresh_settings, trained_policy(fresh_settings, seed=5))


def _logits(model: torch.nn.Module, tokenizer: object) -> torch.Tensor:
    ids = tokenizer(TEXT, return_tensors="pt").input_ids  # type: ignore[operator]
    with torch.no_grad():
        return model(input_ids=ids).logits  # type: ignore[no-any-return]


def _dojo_logits(settings: Settings, version: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(base + adapter, base alone) logits, loaded by Dojo."""
    policy = LMPolicy.load("tiny", adapter=_registry(settings).path(version), settings=settings)
    adapted = _logits(policy.model, policy.tokenizer)
    with policy.reference():
        return adapted, _logits(policy.model, policy.tokenizer)


def _registry(settings: Settings) -> AdapterRegistry:
    source = LMPolicy.load("tiny", settings=settings).source
    return AdapterRegistry(registry_root(settings.data_dir, source))


def test_a_merged_export_loads_with_transformers_alone_to_dojos_logits(
    published: tuple[Settings, AdapterManifest], tmp_path: Path
) -> None:
    settings, manifest = published
    out = tmp_path / "merged"
    result = export_adapter(settings, "latest", out, merged=True)
    assert result.merged and result.version == manifest.version and result.out == out
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert not any("lora" in name for name, _ in model.named_parameters())
    adapted, base = _dojo_logits(settings, manifest.version)
    exported = _logits(model, tokenizer)
    assert torch.allclose(exported, adapted, atol=1e-5)
    assert not torch.allclose(exported, base, atol=1e-2)  # the adapter is in there
    card = (out / "README.md").read_text()
    assert manifest.version in card and "vllm serve" in card


def test_an_adapter_export_loads_with_peft_onto_the_base_it_names(
    published: tuple[Settings, AdapterManifest], tmp_path: Path
) -> None:
    settings, manifest = published
    out = tmp_path / "adapter"
    result = export_adapter(settings, manifest.version, out)
    assert not result.merged and result.version == manifest.version
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "manifest.json",
    ]
    config = json.loads((out / "adapter_config.json").read_text())
    base_path = config["base_model_name_or_path"]
    source = LMPolicy.load("tiny", settings=settings).source
    assert base_path == str(Path(source.location).resolve()) == result.base_model
    base = AutoModelForCausalLM.from_pretrained(base_path)
    model = PeftModel.from_pretrained(base, out)
    adapted, _ = _dojo_logits(settings, manifest.version)
    assert torch.allclose(
        _logits(model, AutoTokenizer.from_pretrained(base_path)), adapted, atol=1e-5
    )
    card = (out / "README.md").read_text()
    # the manifest's facts, and the base it needs: its id and how to get it
    assert f"Training record of version {manifest.version}" in card
    assert "optimizer updates: 1" in card and "| loss | 0.5 |" in card
    assert f"base model id: `{source.base_id}`" in card
    assert "dojo eval --model tiny --adapter none" in card
    # vLLM cannot load the tiny preset's fully trained head as LoRA: the card says so
    assert "lm_head" in card and "--merged" in card


def test_the_target_folder_is_not_overwritten_unless_forced(
    published: tuple[Settings, AdapterManifest], tmp_path: Path
) -> None:
    settings, manifest = published
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export_adapter(settings, "latest", out)
    assert (out / "keep.txt").read_text() == "mine"
    export_adapter(settings, "latest", out, force=True)
    assert not (out / "keep.txt").exists() and (out / "adapter_config.json").is_file()
    with pytest.raises(ExportError, match="no adapter to export"):
        export_adapter(settings, "none", tmp_path / "x")
    with pytest.raises(ExportError, match="which the export reads"):
        export_adapter(settings, "latest", settings.data_dir, force=True)
    assert _registry(settings).latest() == manifest  # the registry is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left


def test_dojo_export_on_the_command_line(
    published: tuple[Settings, AdapterManifest], tmp_path: Path
) -> None:
    settings, manifest = published
    env = child_environment(settings)
    runner = CliRunner()
    out = tmp_path / "cli-adapter"
    done = runner.invoke(app, ["export", "--adapter", "latest", "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert f"exported adapter {manifest.version} to {out}" in done.output
    again = runner.invoke(app, ["export", "--out", str(out)], env=env)
    assert again.exit_code == 2 and "not empty" in again.output
    missing = runner.invoke(
        app, ["export", "--adapter", "v000099", "--out", str(tmp_path / "m")], env=env
    )
    assert missing.exit_code == 2 and "no adapter version" in missing.output


def test_the_base_an_adapter_names() -> None:
    hub = ModelSource(
        name=DEEPSEEK_CODER_V2_LITE.name,
        location="/somewhere/models/deepseek",
        base_id=DEEPSEEK_CODER_V2_LITE.hub_id or "",
        preset=DEEPSEEK_CODER_V2_LITE,
    )
    assert base_reference(hub) == ("deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct", None)
    pinned = ModelSource(
        name=SMOLLM2_135M_INSTRUCT.name,
        location="/cache/snapshot",
        base_id=f"{SMOLLM2_135M_INSTRUCT.hub_id}@0123456789ab",
        preset=SMOLLM2_135M_INSTRUCT,
    )
    assert base_reference(pinned) == (SMOLLM2_135M_INSTRUCT.hub_id, "0123456789ab")
    built = ModelSource(
        name=SMOLLM2_135M_INSTRUCT.name,
        location="/data/models/smollm2-build",
        base_id="smollm2-135m-instruct-q4_1-b179c9523d0e",
        preset=SMOLLM2_135M_INSTRUCT,
    )
    assert base_reference(built) == ("/data/models/smollm2-build", None)
    by_hub_id = ModelSource(name="x", location="org/model", base_id="org/model", preset=None)
    assert base_reference(by_hub_id) == ("org/model", None)
