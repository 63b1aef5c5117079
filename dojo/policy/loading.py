"""Loading a base model and its tokenizer, in full precision or 4-bit (QLoRA)."""

from __future__ import annotations

from typing import Any

import bitsandbytes as bnb
import torch
from peft import prepare_model_for_kbit_training
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
)

from dojo.policy.attention import use_grouped_sdpa
from dojo.policy.presets import ModelSource
from dojo.policy.progress import progress_bars_off


class ModelUnavailableError(RuntimeError):
    """The base model is neither on disk nor obtainable from the hub."""


def _check_available(source: ModelSource) -> None:
    """Fetch only the config first: a missing model fails in seconds, with a clear message."""
    try:
        # trust_remote_code stays off: transformers' own implementations are used
        # (DeepSeek-V2 included), never code shipped with the checkpoint.
        AutoConfig.from_pretrained(source.location, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(
            f"cannot load model {source.name!r} from {source.location!r}: it is not a local model folder "
            "and the hub did not provide it (offline, unreachable, or not cached). Put the model in a "
            f"folder and pass its path{_preset_hint(source)}. Cause: {err}"
        ) from err


def load_base(
    source: ModelSource, *, qlora: bool, device: str, trainable: bool
) -> tuple[PreTrainedModel, Any]:
    """The base model (eval mode) and its tokenizer.

    With ``qlora`` the linear layers load as bitsandbytes NF4 ``Linear4bit`` (works
    on CPU with ``device_map="cpu"``) and the model is prepared for k-bit training
    (norms in fp32, base frozen) whether or not it will train, so the environment
    workers and the learner compute the same distribution.
    """
    _check_available(source)
    dtype = _dtype(source)
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": device, "trust_remote_code": False}
    if qlora:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != "auto" else torch.bfloat16,
        )
    try:
        with progress_bars_off():
            model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(source.location)
    except OSError as err:
        raise ModelUnavailableError(
            f"cannot load the weights of {source.name!r} from {source.location!r}: {err}"
        ) from err
    use_grouped_sdpa(model)  # decoding kept conversations without copying their caches
    checkpointing = trainable and source.preset is not None and source.preset.gradient_checkpointing
    if qlora:
        _keep_one_4bit_kernel(model)
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif checkpointing:
        # the learner backpropagates through whole conversations: without it, every layer
        # keeps its activations (about 1 MB a token for SmolLM2), and a 70-decision
        # episode took the learner past 18 GB and into the OOM killer
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.eval()
    return model, tokenizer


def _keep_one_4bit_kernel(model: PreTrainedModel) -> None:
    """Stop bitsandbytes from repacking 4-bit weights for its CPU inference kernel.

    On CPUs with AVX512-BF16, the first eval-mode forward without gradients (i.e.
    every generation) permanently repacks a ``Linear4bit``'s weight, with its
    scales rounded to bfloat16, and from then on uses a kernel without autograd
    support. The learner would then score with other numbers than the workers
    sampled with, and backpropagate through a kernel that drops gradients (and the
    saved quantisation state would drift). One kernel for both keeps them equal.
    """
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _dtype(source: ModelSource) -> torch.dtype | str:
    wanted = source.preset.dtype if source.preset else "auto"
    return wanted if wanted == "auto" else getattr(torch, wanted)


def _preset_hint(source: ModelSource) -> str:
    if source.preset is None or source.preset.hub_id is None or source.local_folder is None:
        return ""
    return (
        f", or download it where the preset looks first: "
        f"`hf download {source.preset.hub_id} --local-dir {source.local_folder}`"
    )
