"""``dojo up`` runs the evaluator: with small cadence counts, EvalReport rows reach the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from up_support import dojo, dojo_env, dojo_up, from_store, printed

from dojo.config import Settings
from dojo.eval.report import stored_reports

pytestmark = pytest.mark.system


def test_dojo_up_with_small_cadences_stores_eval_reports(
    tmp_path: Path, eval_settings: Settings
) -> None:
    store = tmp_path / "store.duckdb"
    env = dojo_env(
        {
            "DOJO_POLICY": "senior",
            "DOJO_ENV_WORKERS": "1",
            "DOJO_DATA_DIR": str(eval_settings.data_dir),  # the tiny base, built once per session
            "DOJO_STORE_PATH": str(store),
            "DOJO_TOPIC_PREFIX": "up-eval",
            "DOJO_EVAL_QUICK_EVERY": "2",
            "DOJO_EVAL_FULL_EVERY": "0",
            "DOJO_EVAL_QUICK_TASKS": "1",
            "DOJO_EVAL_PHASE_BUDGET": "1.0",
            "DOJO_EVAL_MAX_TEXT_TOKENS": "4",
        }
    )
    summary = dojo_up(4, env=env, cwd=tmp_path, timeout=400)
    evaluator_log = Path(summary["logs"]) / "evaluator.log"
    assert "evaluator ready" in evaluator_log.read_text()
    reports = from_store(store, stored_reports)
    assert reports, evaluator_log.read_text()[-2000:]
    assert {r["cadence"] for r in reports} == {"quick"}
    newest = reports[0]
    assert newest["report_id"].startswith("quick@000004/")
    assert newest["policy_version"] == "reference-senior"
    assert set(newest["baselines"]) == {"base_model", "prompt_only", "scripted_senior", "random"}
    assert newest["metrics"]["intent_match"] is not None


def test_dojo_up_evaluates_the_versions_the_learner_published(
    tmp_path: Path, eval_settings: Settings, tiny_lm: object
) -> None:
    """A report due after the learner published evaluates that version, not the base; and
    ``dojo eval --adapter latest`` afterwards finds the newest version too."""
    from dojo.policy.presets import resolve_model
    from dojo.policy.registry import AdapterRegistry, registry_root

    store = tmp_path / "store.duckdb"
    data = tmp_path / "data"
    data.mkdir()
    # the tiny base, built once per session (tiny_lm)
    (data / "models").symlink_to(eval_settings.data_dir / "models")
    env = dojo_env(
        {
            "DOJO_POLICY": "tiny",
            "DOJO_ENV_WORKERS": "1",
            "DOJO_DATA_DIR": str(data),
            "DOJO_STORE_PATH": str(store),
            "DOJO_TOPIC_PREFIX": "up-eval-tiny",
            # small batches and a large step: several versions that act differently from
            # the base
            "DOJO_LEARNER_BATCH_SIZE": "4",
            "DOJO_LEARNER_LR": "0.02",
            "DOJO_EVAL_QUICK_EVERY": "32",
            "DOJO_EVAL_FULL_EVERY": "0",
            "DOJO_EVAL_QUICK_TASKS": "3",
        }
    )
    dojo_up(32, env=env, cwd=tmp_path, timeout=500)
    registry = AdapterRegistry(registry_root(data, resolve_model("tiny", data)))
    published = {m.version for m in registry.versions()}
    assert published, "the learner published no version"
    reports = from_store(store, stored_reports)
    assert [r["report_id"].split("/")[0] for r in reports] == ["quick@000032"]
    report = reports[0]
    assert report["policy_version"] in published
    assert report["metrics"] != report["baselines"]["base_model"]

    command = ["eval", "--adapter", "latest", "--cadence", "quick", "--tasks", "1", "--json"]
    evaluated = dojo(*command, env=env, cwd=tmp_path, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    document = printed(evaluated)
    newest = registry.latest()
    assert newest is not None and document["policy_version"] == newest.version
