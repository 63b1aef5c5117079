"""The real agile-agent-team (AAT), extracted from the shared tarball for the tests.

AAT is on no registry (see ``../shared/aat/README.md``): the tarball next to the
project (``DOJO_AAT_TARBALL`` elsewhere) is the pinned commit 1925845, checked
by its sha256 so that every run tests the same code. A missing or different
tarball fails the tests that need it: they are never skipped, in ``make test``
or in CI.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARBALL = REPO.parent / "shared" / "aat" / "agile-agent-team-1925845.tar.gz"
SHA256 = "0996b1c1c33ac4419a3a3fd85c922182f5f2a44afb95022034083d425aa92638"
FOLDER = "agile-agent-team"


def tarball() -> Path:
    return Path(os.environ.get("DOJO_AAT_TARBALL", DEFAULT_TARBALL))


def extract(dest: Path) -> Path:
    """The AAT checkout extracted under ``dest``; raises with the reason when it cannot be."""
    path = tarball()
    if not path.is_file():
        raise FileNotFoundError(
            f"the real AAT tarball is not at {path}: put it there (see ../shared/aat/README.md) "
            "or point DOJO_AAT_TARBALL at it"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{path} has sha256 {digest}, not the pinned AAT commit's {SHA256}")
    with tarfile.open(path) as archive:
        archive.extractall(dest, filter="data")
    root = dest / FOLDER
    if not (root / "src" / "rl" / "__init__.py").is_file():
        raise FileNotFoundError(f"{path} holds no {FOLDER}/src/rl")
    return root


def forget_src() -> dict[str, ModuleType]:
    """AAT's package is literally ``src``: drop it, so a test can import another one.
    Returns what was dropped, to put back (:func:`restore_src`)."""
    dropped = {n: m for n, m in sys.modules.items() if n == "src" or n.startswith("src.")}
    for name in dropped:
        del sys.modules[name]
    return dropped


def restore_src(dropped: dict[str, ModuleType]) -> None:
    """Put the dropped AAT modules back: AAT cannot be imported twice in one process
    (its ``src.metrics`` registers Prometheus metrics in the global registry)."""
    forget_src()
    sys.modules.update(dropped)
