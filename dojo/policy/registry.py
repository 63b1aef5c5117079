"""Versioned adapter folders: ``<root>/v000001``, ``v000002``, … each complete or absent.

Every version is written into a temporary folder beside the others and renamed
into place, so a reader (an environment worker picking up the newest policy)
never sees half an adapter. Each folder holds the PEFT adapter, a model card
(README.md), ``manifest.json`` (:class:`AdapterManifest`) and, when the learner
keeps one, the Polyak average of the adapter's weights as a second adapter in
``averaged/`` (see :mod:`dojo.policy.averaging`).

The learner keeps the newest ``DOJO_LEARNER_KEEP_VERSIONS``
(:meth:`AdapterRegistry.prune`): an old version leaves the way a new one comes,
renamed out of the version names before its files are removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from peft import LoraConfig, PeftModel
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from dojo.policy.averaging import WeightAverage
from dojo.policy.lora import load_adapter, save_adapter
from dojo.policy.presets import ModelSource

MANIFEST = "manifest.json"
AVERAGED = "averaged"  # the folder of a version's averaged adapter
_VERSION = re.compile(r"^v(\d{6})$")


class AdapterManifest(BaseModel):
    """What one published adapter is and where it came from."""

    model_config = ConfigDict(frozen=True)

    format: int = 1
    version: str = Field(pattern=r"^v\d{6}$")
    base_model: str = Field(description="base_id of the weights the adapter was trained on")
    parent_version: str | None = Field(
        description="the version training started from; None: a fresh adapter"
    )
    updates: int = Field(ge=0, description="optimizer updates since the fresh adapter")
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime
    lora_r: int
    lora_alpha: int
    target_modules: list[str] | str
    lineage: str | None = Field(
        default=None, description="the line of training it belongs to (the learner's)"
    )
    averaged_decay: float | None = Field(
        default=None,
        description="decay of the Polyak average published in averaged/; None: no average",
    )
    type_returns: dict[str, float] = Field(
        default_factory=dict,
        description="the learner's running mean return per episode type at publication: "
        "what environment workers deal by (dojo.workers.focus)",
    )


def registry_root(data_dir: Path, source: ModelSource) -> Path:
    """Where the adapters trained on ``source``'s base are published (one registry per base).

    The learner publishes here and environment workers load from here, so both
    must agree; the base's id names the folder, so a changed base (e.g. a new tiny
    recipe) never picks up adapters trained on another.
    """
    return Path(data_dir) / "adapters" / source.base_id.replace("/", "--")


class AdapterNotFound(LookupError):
    """An adapter asked for by name (``latest``, ``vNNNNNN``, a folder) that is not there."""


def resolve_adapter(adapter: str, data_dir: Path, source: ModelSource) -> Path | None:
    """What an adapter argument means for the base ``source``; the one place it is decided.

    ``none`` → None (the base model alone); ``latest`` → the newest version the
    learner published for this base (:func:`registry_root`); ``vNNNNNN`` or
    ``vNNNNNN-averaged`` → that version of this base's registry, or its averaged
    weights; anything else → a folder holding a saved adapter.
    :class:`AdapterNotFound` when it names nothing; a version whose manifest is
    unreadable raises its own error (never a quiet fall back to the base).
    """
    if adapter == "none":
        return None
    root = registry_root(data_dir, source)
    registry = AdapterRegistry(root)
    if adapter == "latest":
        latest = registry.latest()
        if latest is None:
            raise AdapterNotFound(
                f"no adapter published for base {source.base_id!r} in {root}: "
                "train one first (dojo up), or use --adapter none"
            )
        return registry.path(latest.version)
    version, averaged = adapter, False
    if adapter.endswith(f"-{AVERAGED}"):
        version, averaged = adapter.removesuffix(f"-{AVERAGED}"), True
    if _VERSION.match(version):
        try:
            return registry.averaged_path(version) if averaged else registry.path(version)
        except KeyError as exc:
            raise AdapterNotFound(exc.args[0]) from None
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise AdapterNotFound(
            f"adapter {adapter!r} is not a saved adapter folder "
            "(expected latest, none, a version vNNNNNN or a folder with adapter_config.json)"
        )
    return path


def read_manifest(adapter_dir: Path) -> AdapterManifest | None:
    """The manifest of a registry folder; None for an adapter saved elsewhere."""
    path = Path(adapter_dir) / MANIFEST
    return AdapterManifest.model_validate_json(path.read_text()) if path.is_file() else None


class AdapterRegistry:
    """The published adapters under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[AdapterManifest]:
        """Every complete version, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if _VERSION.match(folder.name) and (manifest := read_manifest(folder)) is not None:
                found.append(manifest)
        return found

    def latest(self, lineage: str | None = None) -> AdapterManifest | None:
        """The highest complete version, of ``lineage`` when one is named.

        Manifests are read newest first until one fits, not all: workers ask often,
        and the learner asks at every publish.
        """
        if not self.root.is_dir():
            return None
        for folder in sorted(self.root.iterdir(), reverse=True):
            if not _VERSION.match(folder.name) or (manifest := read_manifest(folder)) is None:
                continue
            if lineage is None or manifest.lineage == lineage:
                return manifest
        return None

    def path(self, version: str) -> Path:
        folder = self.root / version
        if not _VERSION.match(version) or not (folder / MANIFEST).is_file():
            raise KeyError(f"no adapter version {version!r} in {self.root}")
        return folder

    def manifest(self, version: str) -> AdapterManifest:
        manifest = read_manifest(self.path(version))
        assert manifest is not None  # path() checked the file
        return manifest

    def averaged_path(self, version: str) -> Path:
        """The folder of ``version``'s averaged adapter; KeyError when it has none."""
        folder = self.path(version) / AVERAGED
        if not (folder / "adapter_config.json").is_file():
            raise KeyError(f"{version} was published without an averaged adapter")
        return folder

    def load(self, version: str, base: nn.Module, *, trainable: bool = False) -> PeftModel:
        """Wrap ``base`` (a freshly loaded base model) with the adapter of ``version``."""
        return load_adapter(base, self.path(version), trainable=trainable)

    def publish(
        self,
        model: PeftModel,
        *,
        base_model: str,
        parent_version: str | None,
        updates: int,
        metrics: Mapping[str, float] | None = None,
        lineage: str | None = None,
        average: WeightAverage | None = None,
        type_returns: Mapping[str, float] | None = None,
    ) -> AdapterManifest:
        """Write ``model``'s adapter as the next version, atomically; returns its manifest.

        ``average``: the Polyak average of ``model``'s adapter, written beside it.
        ``type_returns``: the learner's running mean return per episode type.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        config = model.peft_config["default"]
        if not isinstance(config, LoraConfig):
            raise TypeError(f"only LoRA adapters are published, got {type(config).__name__}")
        scratch = Path(tempfile.mkdtemp(prefix=".publishing-", dir=self.root))
        try:
            save_adapter(model, scratch)
            if average is not None:
                with average.swapped_in():
                    save_adapter(model, scratch / AVERAGED)
            while True:
                manifest = AdapterManifest(
                    version=self._next_version(),
                    base_model=base_model,
                    parent_version=parent_version,
                    updates=updates,
                    metrics=dict(metrics or {}),
                    created_at=datetime.now(UTC),
                    lora_r=config.r,
                    lora_alpha=config.lora_alpha,
                    target_modules=_targets(config.target_modules),
                    lineage=lineage,
                    averaged_decay=None if average is None else average.decay,
                    type_returns=dict(type_returns or {}),
                )
                (scratch / "README.md").write_text(model_card(manifest))
                (scratch / MANIFEST).write_text(manifest.model_dump_json(indent=2))
                try:
                    os.rename(scratch, self.root / manifest.version)
                    return manifest
                except OSError:
                    if not (self.root / manifest.version).exists():
                        raise
                    # another publisher took this number first: take the next one
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def prune(self, keep: int) -> list[str]:
        """Delete every version but the newest ``keep``; returns the deleted, oldest first.

        Each goes in one rename (out of the version names readers list) before its
        files are removed, so a reader sees a version whole or not at all. The
        numbering goes on from the newest, which is always kept.
        """
        if keep < 1:
            raise ValueError(f"keep at least the newest version, got keep={keep}")
        if not self.root.is_dir():
            return []
        names = sorted(f.name for f in self.root.iterdir() if _VERSION.match(f.name))
        pruned = names[:-keep]
        for name in pruned:
            doomed = Path(tempfile.mkdtemp(prefix=f".pruning-{name}-", dir=self.root))
            os.rename(self.root / name, doomed / name)
            shutil.rmtree(doomed)
        return pruned

    def _next_version(self) -> str:
        numbers = [int(m.group(1)) for f in self.root.iterdir() if (m := _VERSION.match(f.name))]
        return f"v{max(numbers, default=0) + 1:06d}"


def model_card(manifest: AdapterManifest) -> str:
    """The README.md of a published adapter."""
    metrics = (
        "\n".join(f"| {k} | {v:.6g} |" for k, v in sorted(manifest.metrics.items()))
        or "| (none) | |"
    )
    targets = (
        manifest.target_modules
        if isinstance(manifest.target_modules, str)
        else ", ".join(manifest.target_modules)
    )
    averaged = (
        f"`{AVERAGED}/`, the Polyak average of the weights (decay {manifest.averaged_decay:g})"
        if manifest.averaged_decay is not None
        else "none"
    )
    returns = (
        "\n".join(f"| {t} | {v:.3f} |" for t, v in sorted(manifest.type_returns.items()))
        or "| (none yet) | |"
    )
    return f"""---
library_name: peft
base_model: {manifest.base_model}
tags: [dojo, lora]
---
# Dojo policy adapter {manifest.version}

LoRA adapter trained by Dojo's learner (PPO in a simulated agile team).

- base model: `{manifest.base_model}`
- parent version: {manifest.parent_version or "none (fresh adapter)"}
- optimizer updates: {manifest.updates}
- created at: {manifest.created_at.isoformat()}
- LoRA: r={manifest.lora_r}, alpha={manifest.lora_alpha}, targets: {targets}
- averaged adapter: {averaged}

## Metrics at publication

| metric | value |
|---|---|
{metrics}

## Running return per episode type

What environment workers deal by: the weaker the type, the more often
(`dojo.workers.focus`).

| episode type | return |
|---|---|
{returns}
"""


def _targets(targets: object) -> list[str] | str:
    if isinstance(targets, str):
        return targets
    return sorted(targets or [])  # type: ignore[call-overload]
