"""Fresh tiny policies for the learner's tests, from one tiny base per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from torch_threads import one_torch_thread  # noqa: F401 (autouse)

from dojo.config import Settings
from dojo.policy import LMPolicy


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("dojo-data"))


@pytest.fixture
def load_tiny(tiny_settings: Settings) -> Callable[..., LMPolicy]:
    def load(**kwargs: object) -> LMPolicy:
        return LMPolicy.load("tiny", settings=tiny_settings, **kwargs)  # type: ignore[arg-type]

    return load
