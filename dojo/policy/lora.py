"""LoRA adapters on a base model: target checks, attaching, loading, swapping, disabling.

PEFT only complains when *no* target module matches; a target list with a typo
in one name silently trains fewer layers. :func:`check_lora_targets` makes every
named target prove it exists (and is a layer LoRA can wrap) before anything is
attached.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model, load_peft_weights, set_peft_model_state_dict
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

ALL_LINEAR = "all-linear"  # PEFT's own choice of every linear layer but the output head
# Module types PEFT's LoRA wraps; bitsandbytes' Linear4bit/Linear8bitLt subclass nn.Linear.
_LORA_LAYERS = (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d)


class MissingLoraTargetsError(ValueError):
    """A LoRA target module is absent from the model, or not a layer LoRA can wrap."""

    def __init__(
        self, missing: Sequence[str], unsupported: Sequence[str], candidates: Sequence[str]
    ) -> None:
        self.missing = tuple(missing)
        self.unsupported = tuple(unsupported)
        parts = []
        if missing:
            parts.append(f"not found in the model: {', '.join(missing)}")
        if unsupported:
            parts.append(f"found but not a layer LoRA can wrap: {', '.join(unsupported)}")
        super().__init__(
            "LoRA target modules "
            + "; ".join(parts)
            + f". Wrappable module names here: {', '.join(candidates)}"
        )


class LoraSettings(BaseModel):
    """Shape of a fresh adapter. ``target_modules`` None: the preset's targets."""

    model_config = ConfigDict(frozen=True)

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    # dropout stays 0 by default: with dropout, train-mode log-probs would no longer
    # reproduce the log-probs recorded at sampling time.
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] | None = None
    # modules trained in full (a copy beside the frozen original), e.g. the output head
    modules_to_save: tuple[str, ...] | None = None


def lora_layer_names(model: nn.Module) -> list[str]:
    """Distinct last name components of the modules LoRA could wrap (sorted)."""
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, _LORA_LAYERS) and name
        }
    )


def check_lora_targets(model: nn.Module, targets: Sequence[str] | str) -> None:
    """Fail loudly, naming each one, if a target module is absent or not wrappable."""
    if targets == ALL_LINEAR:
        return
    if isinstance(targets, str):
        targets = [targets]
    by_suffix: dict[str, list[nn.Module]] = {}
    for name, module in model.named_modules():
        for target in targets:
            if name == target or name.endswith(f".{target}"):
                by_suffix.setdefault(target, []).append(module)
    missing = [t for t in targets if t not in by_suffix]
    unsupported = [
        t
        for t, modules in by_suffix.items()
        if not all(isinstance(m, _LORA_LAYERS) for m in modules)
    ]
    if missing or unsupported:
        raise MissingLoraTargetsError(missing, unsupported, lora_layer_names(model))


def attach_lora(
    model: nn.Module, targets: Sequence[str] | str, settings: LoraSettings
) -> PeftModel:
    """Wrap ``model`` with a fresh, trainable adapter (B = 0: it starts as the base model)."""
    chosen = list(settings.target_modules) if settings.target_modules is not None else targets
    check_lora_targets(model, chosen)
    if settings.modules_to_save:
        check_lora_targets(model, settings.modules_to_save)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=chosen if isinstance(chosen, str) else list(chosen),
        modules_to_save=list(settings.modules_to_save) if settings.modules_to_save else None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with _tied_head_is_fine():
        peft_model = get_peft_model(model, config)
    _check_not_rewritten(peft_model, chosen)
    return peft_model


#: the model card an adapter folder starts with, for PEFT to update (see save_adapter)
_CARD_STUB = "---\nlibrary_name: peft\n---\n"


def save_adapter(model: PeftModel, folder: Path) -> None:
    """``model.save_pretrained(folder)``, a model card seeded first.

    PEFT updates a README.md it finds and renders one from a Jinja template when
    there is none, compiling the template afresh on every save: for the tiny
    preset that was most of a save, and the learner saves two or three adapters
    per update (its checkpoint, the version it publishes, that version's average).
    Embedding layers are never saved whole: Dojo never resizes a base's
    vocabulary, and PEFT's "auto" finds that out by reading the base's config
    again, from the hub for a hub model, at every save.
    """
    folder.mkdir(parents=True, exist_ok=True)
    card = folder / "README.md"
    if not card.exists():
        card.write_text(_CARD_STUB)
    model.save_pretrained(str(folder), save_embedding_layers=False)


def load_adapter(model: nn.Module, adapter_dir: Path, *, trainable: bool = False) -> PeftModel:
    """Wrap ``model`` with a saved adapter, after checking its targets exist in the model."""
    config = _saved_config(adapter_dir)
    check_lora_targets(model, _targets(config))
    with _tied_head_is_fine():
        peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    _check_not_rewritten(peft_model, _targets(config))
    return peft_model


def swap_adapter(model: PeftModel, adapter_dir: Path) -> PeftModel:
    """Put a saved adapter's weights into ``model``; returns the model to use from now on.

    An adapter of the same shape is copied into the live one (no re-wrapping, which
    matters between episodes); another shape unwraps the base and wraps it anew.
    """
    config = _saved_config(adapter_dir)
    live = model.peft_config["default"]
    same_shape = (
        isinstance(live, LoraConfig)
        and live.r == config.r
        and live.lora_alpha == config.lora_alpha
        and _targets(live) == _targets(config)
        and sorted(live.modules_to_save or []) == sorted(config.modules_to_save or [])
    )
    if not same_shape:
        base = model.unload()
        return load_adapter(base, adapter_dir)
    result: Any = set_peft_model_state_dict(
        model, load_peft_weights(str(adapter_dir), device=_device(model))
    )
    missing = [k for k in result.missing_keys if "lora_" in k]
    if result.unexpected_keys or missing:
        raise ValueError(
            f"adapter {adapter_dir} does not fit the live adapter: "
            f"unexpected {result.unexpected_keys[:5]}, missing {missing[:5]}"
        )
    return model


@contextmanager
def adapter_disabled(model: nn.Module) -> Iterator[None]:
    """The reference policy: the same model with its adapter switched off (no second copy).

    A model without an adapter is its own reference.
    """
    with model.disable_adapter() if isinstance(model, PeftModel) else nullcontext():
        yield


@contextmanager
def _tied_head_is_fine() -> Iterator[None]:
    """PEFT warns when an adapted module (the tiny preset's ``lm_head``) shares its weight
    with another (the input embeddings). The adapter's delta applies to the head's
    output only and the shared weight stays frozen, which is what we want."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tie_word_embeddings=True.*")
        yield


def _check_not_rewritten(model: PeftModel, requested: Sequence[str] | str) -> None:
    """Refuse an adapter whose targets PEFT changed behind our back.

    For MoE models whose layout changed in transformers 5 (deepseek_v2, mixtral,
    qwen2_moe …) PEFT turns module targets such as ``gate_proj`` into
    ``target_parameters`` on fused expert weights: other layers, other sizes.
    """
    config = model.peft_config["default"]
    if isinstance(requested, str) or not isinstance(config, LoraConfig):
        return  # all-linear or a regex: PEFT's own resolution is what was asked for
    kept = set(config.target_modules or [])
    dropped = sorted(set(requested) - kept)
    if dropped or config.target_parameters:
        raise ValueError(
            f"PEFT rewrote the LoRA targets for this {getattr(model.config, 'model_type', '?')} model: "
            f"{', '.join(dropped) or '(none)'} became target_parameters "
            f"{sorted(config.target_parameters or [])} (fused expert weights). Target other modules."
        )


def _saved_config(adapter_dir: Path) -> LoraConfig:
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no adapter at {adapter_dir} (adapter_config.json missing)")
    config = LoraConfig.from_pretrained(str(adapter_dir))
    if not isinstance(config, LoraConfig):
        raise ValueError(f"{adapter_dir} holds a {type(config).__name__}, not a LoRA adapter")
    return config


def _targets(config: LoraConfig) -> list[str] | str:
    targets = config.target_modules
    if isinstance(targets, str):
        return targets
    return sorted(targets or [])


def _device(model: nn.Module) -> str:
    return str(next(model.parameters()).device)
