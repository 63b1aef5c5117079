"""A child of dojo up announces readiness in a file under its pid (dojo.workers.readiness)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dojo.workers.readiness import READY_FILE_ENV, announce_ready, announced, ready_file


def test_an_announcement_names_the_process_that_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ready_file(tmp_path, "scoring")
    assert not announced(path, os.getpid())
    monkeypatch.setenv(READY_FILE_ENV, str(path))
    announce_ready()
    assert announced(path, os.getpid())
    # a restarted child is a new pid: its predecessor's announcement does not count
    assert not announced(path, os.getpid() + 1)


def test_without_a_supervisor_announcing_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(READY_FILE_ENV, raising=False)
    announce_ready()
    assert list(tmp_path.iterdir()) == []


def test_the_supervisor_reads_the_file_it_told_the_child_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dojo.workers import supervisor
    from dojo.workers.services import announced_ready

    seen: dict[str, str] = {}

    def popen(args: list[str], *, env: dict[str, str], **kwargs: object) -> object:
        seen.update(env)
        return object()

    monkeypatch.setattr(supervisor.subprocess, "Popen", popen)
    supervisor.spawn("scoring", ["streams", "worker"], dict(os.environ), tmp_path)

    class Child:
        pid = os.getpid()
        log_path = tmp_path / "scoring.log"

    assert not announced_ready(Child(), None)  # type: ignore[arg-type]
    monkeypatch.setenv(READY_FILE_ENV, seen[READY_FILE_ENV])  # as the child has it
    announce_ready()
    assert announced_ready(Child(), None)  # type: ignore[arg-type]
