"""Shared fixtures: one data dir with the tiny base built once, one tiny model loaded once."""

from __future__ import annotations

import pytest
from torch_threads import one_torch_thread  # noqa: F401 (autouse)

from dojo.config import Settings
from dojo.eval.harness import Evaluator, load_lm


@pytest.fixture(scope="session")
def eval_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Two solo tasks per report, short free text: real generation, test-sized."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("eval-data"),
        store_path=tmp_path_factory.mktemp("eval-store") / "store.duckdb",
        eval_quick_tasks=2,
        eval_full_tasks=2,
        eval_comprehensive_tasks=2,
        eval_max_text_tokens=4,
        eval_phase_budget=1.0,
    )


@pytest.fixture(scope="session")
def tiny_lm(eval_settings: Settings) -> object:
    return load_lm("tiny", None, eval_settings)


@pytest.fixture(scope="session")
def evaluator(eval_settings: Settings) -> Evaluator:
    """One evaluator for the session: baselines played once are reused (as in the service)."""
    return Evaluator(eval_settings)
