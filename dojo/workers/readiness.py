"""How a child of ``dojo up`` says it is ready: a file under its own pid, not a log line.

The supervisor names the file in the child's environment (``DOJO_READY_FILE``); the
child writes its pid there once it serves (:func:`announce_ready`), and the supervisor
polls for that pid (:func:`announced`). A log line would do as long as nobody rewords
it; the pid also tells a restarted child's announcement from its predecessor's. A
process started by hand has no file to write, and announcing is then a no-op.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

READY_FILE_ENV = "DOJO_READY_FILE"


def ready_file(log_dir: Path, name: str) -> Path:
    """Where the child ``name`` of a run logging to ``log_dir`` announces itself."""
    return log_dir / f"{name}.ready"


def announce_ready() -> None:
    """This process is ready: its pid into the file the supervisor named, if any."""
    path = os.environ.get(READY_FILE_ENV)
    if not path:
        return
    target = Path(path)
    scratch = target.with_name(f".{target.name}.{os.getpid()}")
    scratch.write_text(str(os.getpid()))
    scratch.replace(target)  # atomic: the supervisor never reads half a pid


def announced(path: Path, pid: int) -> bool:
    """Whether the process ``pid`` announced itself in ``path``."""
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text()) == pid
    return False
