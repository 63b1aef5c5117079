"""The learner's checkpoints: adapter, optimizer, scheduler, counters, offsets, outbox.

A checkpoint is a folder ``u000123`` (named by the update it follows) holding

* ``adapter/`` — the PEFT adapter (:func:`~dojo.policy.lora.save_adapter`),
* ``optim.pt`` — optimizer and learning-rate scheduler state,
* ``average.pt`` — the Polyak average of the adapter's weights, when one is kept,
* ``state.json`` — :class:`LearnerState`: counters, the value table, the rng,
  the next offset per partition of the trajectories topic, and the *outbox*
  (events about the updates in this checkpoint, sent after it is written).

It is written into a temporary folder, renamed into place, and only then named
in ``LATEST`` (replaced atomically), so a learner killed at any moment restarts
from a complete checkpoint. The offsets in the checkpoint — not the consumer
group's commits, which happen after it and may not have — decide where
consumption resumes: nothing trained is trained again, nothing consumed but not
yet trained is lost.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from dojo.policy.lora import save_adapter
from dojo.training.advantages import ValueTable

LATEST = "LATEST"
STATE = "state.json"
OPTIM = "optim.pt"
AVERAGE = "average.pt"
ADAPTER = "adapter"
KEEP = 2  # complete checkpoints kept (the newest and one before it)


class PendingPublish(BaseModel):
    """A version to publish from this checkpoint's adapter, if not published yet."""

    updates: int = Field(ge=1, description="the update whose weights are published")
    parent_version: str | None
    trajectories: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)
    type_returns: dict[str, float] = Field(default_factory=dict)


class LearnerState(BaseModel):
    """Everything but the weights and the optimizer that a restart needs."""

    format: int = 1
    lineage: str
    base_model: str
    updates: int = 0
    optimizer_steps: int = 0
    policy_version: str = Field(description="the newest published version ('<model>-base')")
    version_number: int = 0
    published_at_update: int = 0
    trajectories_trained: int = 0
    trajectories_dropped: int = 0
    trajectories_skipped: int = 0
    value_table: ValueTable = Field(default_factory=ValueTable)
    rng_state: list[Any] | None = None
    offsets: dict[str, int] = Field(
        default_factory=dict, description="'<topic>:<partition>' -> the next offset to consume"
    )
    outbox: list[str] = Field(
        default_factory=list, description="encoded events about this checkpoint's updates"
    )
    pending_publish: PendingPublish | None = None
    consumed_ids: list[str] = Field(
        default_factory=list,
        description="the latest trajectory event ids consumed (trained, dropped or skipped): "
        "a trajectory delivered again (a broker that lost its topics, a republished episode) "
        "is not trained twice",
    )


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root``, or None."""
    pointer = root / LATEST
    if pointer.is_file():
        folder = root / pointer.read_text().strip()
        if (folder / STATE).is_file():
            return folder
    complete = sorted(p for p in root.glob("u*") if (p / STATE).is_file()) if root.is_dir() else []
    return complete[-1] if complete else None


def read_state(folder: Path) -> LearnerState:
    return LearnerState.model_validate_json((folder / STATE).read_text())


def read_optim(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(folder / OPTIM, map_location="cpu", weights_only=True)
    return state


def read_average(folder: Path) -> dict[str, torch.Tensor] | None:
    """The checkpoint's averaged weights; None when it kept none (or predates averaging)."""
    path = folder / AVERAGE
    if not path.is_file():
        return None
    average: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return average


def write_checkpoint(
    root: Path,
    state: LearnerState,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    average: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write a complete checkpoint for ``state.updates`` and point ``LATEST`` at it."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"u{state.updates:06d}"
    final = root / name
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        save_adapter(model, scratch / ADAPTER)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
            },
            scratch / OPTIM,
        )
        if average is not None:
            torch.save(dict(average), scratch / AVERAGE)
        (scratch / STATE).write_text(state.model_dump_json())
        if final.exists():  # a rewrite of this update (e.g. after a restart): replace it
            shutil.rmtree(final)
        os.rename(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    pointer = root / f".{LATEST}.tmp"
    pointer.write_text(name)
    os.replace(pointer, root / LATEST)
    _prune(root, keep=name)
    return final


def _prune(root: Path, keep: str) -> None:
    complete = sorted(p for p in root.glob("u*") if p.is_dir())
    for old in complete[:-KEEP]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
