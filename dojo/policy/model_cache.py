"""Base models built once per machine, kept in a machine-wide cache, installed into data dirs.

A base that Dojo builds itself (the tiny preset's, :mod:`dojo.policy.tiny_base`; the
SmolLM2 preset's when no hub has it, :mod:`dojo.policy.smollm2`) costs a minute or more
to make, so it is made once per machine, into ``$XDG_CACHE_HOME/dojo/models``
(``~/.cache/dojo/models`` without it):

* :func:`build_once` — the first process to ask builds, under a file lock, the others
  wait on the lock and then find it built. The build goes into a scratch folder beside
  the target and is renamed into place once complete (its :data:`MARKER` written
  last), so a reader never sees half a model and a crashed build leaves no folder.
* :func:`install` — the cached build made available as ``<data_dir>/models/<name>``:
  copied (or hard-linked) into its own temporary folder beside the target, then
  renamed into place; a rename onto a complete folder fails, and the loser discards
  its copy, so concurrent installs race safely.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
#: written last into a built model folder: its presence marks the folder complete, and
#: it says which preset the folder is (see :func:`dojo.policy.presets.resolve_model`)
MARKER = "dojo_preset.json"


def default_model_cache() -> Path:
    """``$XDG_CACHE_HOME/dojo/models`` (``~/.cache/dojo/models`` without it)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "dojo" / "models"


def is_built(folder: Path) -> bool:
    """A complete model folder: its marker is there."""
    return (folder / MARKER).is_file()


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a built folder (None when there is none, or it is not Dojo's)."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def build_once(
    cache: Path,
    name: str,
    build: Callable[[Path], None],
    *,
    marker: Mapping[str, Any],
    announce: str,
) -> Path:
    """``cache/name``, made by ``build`` by the first process to ask, under a file lock.

    ``build(scratch)`` writes a whole model folder into the empty folder it is given;
    then ``marker`` is written into it as :data:`MARKER` and the folder is renamed into
    place. ``announce``: the progress line logged (on stderr, at WARNING: it shows
    without any logging set up) when this process builds.
    """
    folder = cache / name
    if is_built(folder):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here, then find it built
        if not is_built(folder):
            log.warning("%s", announce)
            started = time.monotonic()
            scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache))
            try:
                build(scratch)
                # written last: its presence marks a complete folder
                (scratch / MARKER).write_text(json.dumps(dict(marker), indent=2))
                os.rename(scratch, folder)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            log.warning("built %s in %.0f s", folder, time.monotonic() - started)
    return folder


def install(built: Path, final: Path, *, hardlink: bool = False) -> Path:
    """``built`` (a complete folder) made available as ``final``; returns ``final``.

    ``hardlink``: link the files instead of copying them where the file system allows
    (same file system, links permitted), else copy them. A linked install costs no disk
    space and stays whole if the cache is cleared later (unlike a symbolic link, which
    would dangle), so it suits large bases; nothing ever writes into a base folder, so
    the shared files stay as built.
    """
    if is_built(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        shutil.copytree(
            built,
            scratch,
            dirs_exist_ok=True,
            copy_function=_link_or_copy if hardlink else shutil.copy2,
        )
        try:
            os.rename(scratch, final)
        except OSError:
            if not is_built(final):
                raise  # not a lost race: something else is in the way
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # still there only if we lost the race
    return final


def _link_or_copy(source: str, target: str) -> str:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links refused (e.g. protected_hardlinks)
        shutil.copy2(source, target)
    return target
