"""Shared fixtures: one tiny base built per session, cheap fresh policies from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from torch_threads import one_torch_thread  # noqa: F401 (autouse)

from dojo.config import Settings
from dojo.policy import LMPolicy, SamplingSettings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("dojo-data"))


@pytest.fixture(scope="session")
def tiny(settings: Settings) -> LMPolicy:
    """A read-only tiny policy; tests that change weights load their own."""
    return LMPolicy.load("tiny", settings=settings)


@pytest.fixture
def load_tiny(settings: Settings) -> Callable[..., LMPolicy]:
    """Fresh tiny policies; free text capped short by default to keep tests quick."""

    def load(**kwargs: object) -> LMPolicy:
        kwargs.setdefault("sampling", SamplingSettings(max_text_tokens=8))
        return LMPolicy.load("tiny", settings=settings, **kwargs)  # type: ignore[arg-type]

    return load


@pytest.fixture(scope="session")
def tiny_dir(tiny: LMPolicy) -> Path:
    return Path(tiny.source.location)
