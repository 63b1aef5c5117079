"""The learner's metrics as TensorBoard event files (``tensorboard --logdir <data_dir>/learner``).

The store gets the same numbers through LearnerUpdated events; these files are
for watching a run in TensorBoard without the store. One folder per lineage, so
a resumed learner appends to its own curves and a fresh adapter starts new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tensorboardX import SummaryWriter


class TensorBoardLog:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._writer = SummaryWriter(logdir=str(folder), flush_secs=30)

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        for name, value in sorted(metrics.items()):
            self._writer.add_scalar(f"learner/{name}", value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def tensorboard_folder(checkpoint_root: Path, lineage: str) -> Path:
    """Beside the checkpoints: ``<data_dir>/learner/<base>/tensorboard/<lineage>``."""
    return checkpoint_root.parent / "tensorboard" / lineage
