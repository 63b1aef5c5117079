"""Fixtures for the tests against the real AAT (``aat_checkout``) and the tiny policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from aat_checkout import extract, forget_src, restore_src
from torch_threads import one_torch_thread  # noqa: F401 (autouse)

from dojo.config import Settings
from dojo.env.aat import AATBackend, load_aat
from dojo.workers.actors import make_actor
from dojo.workers.rollout import Actor


@pytest.fixture(scope="session")
def aat_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract(tmp_path_factory.mktemp("aat"))


@pytest.fixture(scope="session")
def rl(aat_root: Path) -> ModuleType:
    """AAT's ``src.rl``, imported once per process: a second import of AAT fails
    (its ``src.metrics`` registers Prometheus metrics in the global registry)."""
    return load_aat(aat_root)


@pytest.fixture
def no_src() -> Iterator[None]:
    """No package named ``src`` during the test; AAT's modules are put back after it."""
    dropped = forget_src()
    yield
    restore_src(dropped)


@pytest.fixture(autouse=True)
def aat_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AAT writes under the current directory (``team_config/07_meta``): never the project's."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def backend(rl: ModuleType, tmp_path: Path) -> AATBackend:
    return AATBackend(rl, workspace=tmp_path / "aat")


@pytest.fixture(scope="session")
def tiny_actor(tmp_path_factory: pytest.TempPathFactory) -> Actor:
    """The tiny preset as an environment worker loads it (made once: it costs seconds)."""
    return make_actor("tiny", Settings(data_dir=tmp_path_factory.mktemp("data")))
