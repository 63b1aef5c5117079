"""Dojo's commands as the system tests run them: ``python -m dojo`` in a child process,
and what they left in the store.

The child takes its settings from the environment (``DOJO_*``, over this process's own
environment) and never the session broker's address: ``dojo up`` starts its own broker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dojo.store import StoreReader, open_store

T = TypeVar("T")


def dojo_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``settings`` (``{"DOJO_POLICY": "tiny"}``, ...)
    and without DOJO_KAFKA_BOOTSTRAP."""
    env = {**os.environ, **settings}
    env.pop("DOJO_KAFKA_BOOTSTRAP", None)
    return env


def dojo(
    *args: str, env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dojo ARGS`` to its end, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dojo", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def printed(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON document a ``--json`` command printed last."""
    document: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return document


def dojo_up(episodes: int, *, env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Run ``dojo up --episodes EPISODES --json``; it must succeed with them all played.
    Returns its summary."""
    done = dojo("up", "--episodes", str(episodes), "--json", env=env, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = printed(done)
    assert summary["status"] == "ok" and summary["episodes"] == episodes, summary
    return summary


def from_store(path: Path, read: Callable[[StoreReader], T]) -> T:
    """``read`` (``store_stats``, ``stored_reports``, ...) over the store at ``path``."""
    reader = open_store(path)
    try:
        return read(reader)
    finally:
        reader.close()
