"""One evaluation: a model and the four baselines on the same solo tasks, real generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import Settings
from dojo.eval import (
    PRIMARY_NAMES,
    EvalError,
    Evaluator,
    LMSoloPolicy,
    ScriptedSoloPolicy,
    Subject,
    cadence_tasks,
    subject_for_cli,
    subject_from_settings,
)
from dojo.eval.senior_prompt import SENIOR_BEHAVIOUR_PROMPT
from dojo.eval.solo import SoloEpisode
from dojo.policy import LMPolicy
from dojo.policy.presets import resolve_model
from dojo.policy.registry import (
    AdapterManifest,
    AdapterNotFound,
    AdapterRegistry,
    registry_root,
    resolve_adapter,
)


def test_a_model_report_has_every_primary_metric_and_the_four_baselines(
    eval_settings: Settings, tiny_lm: LMPolicy, evaluator: Evaluator
) -> None:
    subject = Subject(LMSoloPolicy(tiny_lm, version=tiny_lm.version), tiny_lm, "tiny")
    seen: list[tuple[str, int, int]] = []
    result = evaluator.evaluate(subject, "quick", progress=lambda *a: seen.append(a))
    assert result.policy_version == "tiny-base"
    assert list(result.metrics) == [*PRIMARY_NAMES, "performative_risk"]
    assert result.baseline_versions == {
        "base_model": "tiny-base",
        "prompt_only": "tiny-base+senior-prompt",
        "scripted_senior": "reference-senior",
        "random": "reference-random",
    }
    for metrics in result.baselines.values():
        assert list(metrics) == list(result.metrics)
    # without an adapter the subject is the base model: the same play, the same numbers
    assert result.baselines["base_model"] == result.metrics
    assert result.tasks == 2 and result.task_ids == ["solo-000", "solo-001"]
    assert ("prompt_only", 2, 2) in seen and ("subject", 2, 2) in seen
    assert result.transfer == {}  # transfer belongs to comprehensive reports
    # model decisions are real generations: the tiny model writes its own (odd) text
    traces = evaluator.play(subject.policy, cadence_tasks("quick", eval_settings), "again")
    assert any(c for t in traces for p in t.phases for c in p.completions)


def test_the_prompt_only_baseline_reads_the_senior_prompt(
    tiny_lm: LMPolicy, eval_settings: Settings
) -> None:
    observation = SoloEpisode(cadence_tasks("quick", eval_settings)[0]).start()
    prompt_only = LMSoloPolicy(tiny_lm, version="p", instruction=SENIOR_BEHAVIOUR_PROMPT)
    base = LMSoloPolicy(tiny_lm, version="b")
    assert SENIOR_BEHAVIOUR_PROMPT in prompt_only.lm.prompt_format.render(observation)
    assert SENIOR_BEHAVIOUR_PROMPT not in base.lm.prompt_format.render(observation)
    assert prompt_only.lm.model is tiny_lm.model  # one copy of the weights


def _publish(settings: Settings, lm: LMPolicy) -> AdapterManifest:
    return AdapterRegistry(registry_root(settings.data_dir, lm.source)).publish(
        lm.model,  # type: ignore[arg-type]
        base_model=lm.source.base_id,
        parent_version=None,
        updates=0,
    )


def test_adapters_resolve_by_path_latest_version_or_none(
    tmp_path: Path, eval_settings: Settings, tiny_lm: LMPolicy
) -> None:
    settings = _with_models(eval_settings.replace(data_dir=tmp_path), eval_settings)
    source = resolve_model("tiny", settings.data_dir)
    assert resolve_adapter("none", tmp_path, source) is None
    with pytest.raises(AdapterNotFound, match="no adapter published for base"):
        resolve_adapter("latest", tmp_path, source)
    with pytest.raises(AdapterNotFound, match="not a saved adapter folder"):
        resolve_adapter(str(tmp_path / "missing"), tmp_path, source)
    with pytest.raises(AdapterNotFound, match="no adapter version 'v000001'"):
        resolve_adapter("v000001", tmp_path, source)
    trainable = LMPolicy.load("tiny", settings=eval_settings, trainable=True)
    first, second = _publish(settings, trainable), _publish(settings, trainable)
    root = registry_root(tmp_path, source)
    # the learner publishes under <data_dir>/adapters/<base>: that is where latest looks
    assert root.parent == tmp_path / "adapters" and root.name == source.base_id
    assert resolve_adapter("latest", tmp_path, source) == root / second.version
    assert resolve_adapter(first.version, tmp_path, source) == root / first.version
    assert resolve_adapter(str(root / first.version), tmp_path, source) == root / first.version
    subject = subject_for_cli("latest", settings)
    assert subject.version == second.version
    assert subject.lm is not None and subject.lm is not trainable


def test_the_evaluator_service_evaluates_the_newest_version_or_fails_with_the_reason(
    tmp_path: Path, eval_settings: Settings, tiny_lm: LMPolicy
) -> None:
    settings = _with_models(eval_settings.replace(data_dir=tmp_path, policy="tiny"), eval_settings)
    # nothing published yet: the base model, named as such
    assert subject_from_settings(settings).version == "tiny-base"
    trainable = LMPolicy.load("tiny", settings=eval_settings, trainable=True)
    manifest = _publish(settings, trainable)
    assert subject_from_settings(settings).version == manifest.version
    # a version that is there but cannot be loaded is an error, never the base model
    folder = registry_root(tmp_path, trainable.source) / manifest.version
    (folder / "adapter_model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(Exception, match=r"(?i)safetensor|header|deserializ"):
        subject_from_settings(settings)
    # outside the service, latest with nothing published is an error too
    with pytest.raises(EvalError, match="no adapter published"):
        subject_for_cli("latest", _empty(tmp_path / "other", eval_settings))


def test_a_cached_result_serves_only_the_version_it_was_played_by(
    tmp_path: Path, eval_settings: Settings, tiny_lm: LMPolicy
) -> None:
    settings = _with_models(eval_settings.replace(data_dir=tmp_path), eval_settings)
    trainable = LMPolicy.load("tiny", settings=eval_settings, trainable=True)
    with torch.no_grad():
        for name, weight in trainable.model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(7))
    trained = _publish(settings, trainable)
    evaluator = Evaluator(settings)
    base = evaluator.evaluate(subject_for_cli("none", settings), "quick")
    subject = subject_for_cli(trained.version, settings)
    report = evaluator.evaluate(subject, "quick")
    assert base.policy_version == "tiny-base" and report.policy_version == trained.version
    played = {key[1] for key in evaluator._cache}
    assert {"tiny-base", trained.version} <= played
    # the subject was played by its own weights, not served from the base's traces
    assert report.metrics != report.baselines["base_model"]


def _empty(data_dir: Path, with_tiny: Settings) -> Settings:
    data_dir.mkdir()
    return _with_models(with_tiny.replace(data_dir=data_dir), with_tiny)


def _with_models(settings: Settings, with_tiny: Settings) -> Settings:
    # adapters from this test's registry, the tiny base from the session's data dir
    # (built by the tiny_lm fixture)
    (settings.data_dir / "models").symlink_to(with_tiny.data_dir / "models")
    return settings


def test_a_scripted_subject_gets_transfer_scores_in_a_comprehensive_report(
    tiny_lm: LMPolicy, evaluator: Evaluator
) -> None:
    team = {name: 0.8 for name in PRIMARY_NAMES} | {"sufficiency_error": 0.1}
    subject = Subject(ScriptedSoloPolicy("senior"), tiny_lm, "tiny")
    result = evaluator.evaluate(subject, "comprehensive", team=team)
    assert result.policy_version == "reference-senior"
    assert result.tasks == 2
    assert "plan_to_execution_drift" in result.metrics  # all metrics
    intent = result.metrics["intent_match"]
    assert intent is not None
    assert result.transfer["intent_match"] == pytest.approx(intent / 0.8)
    assert set(result.transfer) == set(PRIMARY_NAMES)


def test_dojo_eval_prints_every_primary_metric_and_the_baselines(eval_settings: Settings) -> None:
    env = {
        "DOJO_DATA_DIR": str(eval_settings.data_dir),
        "DOJO_STORE_PATH": str(eval_settings.store.path),
        "DOJO_EVAL_QUICK_TASKS": "1",
        "DOJO_EVAL_MAX_TEXT_TOKENS": "4",
        "DOJO_EVAL_PHASE_BUDGET": "1.0",
    }
    result = CliRunner().invoke(
        app, ["eval", "--adapter", "none", "--cadence", "quick", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout.strip().splitlines()[-1])
    assert document["policy_version"] == "tiny-base"
    assert set(document["metrics"]) >= set(PRIMARY_NAMES)
    assert set(document["baselines"]) == {"base_model", "prompt_only", "scripted_senior", "random"}
    senior, rand = document["baselines"]["scripted_senior"], document["baselines"]["random"]
    assert senior["intent_match"] > rand["intent_match"]
    assert document["targets"]["sufficiency_error"] == {"direction": "lower", "target": 0.15}
    bad = CliRunner().invoke(app, ["eval", "--adapter", "latest"], env=env)
    assert bad.exit_code == 2
    assert "no adapter published for base" in bad.output


def test_models_played_side_by_side_play_as_they_do_alone(
    eval_settings: Settings, tiny_lm: LMPolicy
) -> None:
    one_task = eval_settings.replace(eval_quick_tasks=1)
    subject = Subject(LMSoloPolicy(tiny_lm, version=tiny_lm.version), tiny_lm, "tiny")
    evaluators = [Evaluator(one_task.replace(eval_workers=n)) for n in (2, 1)]
    together, alone = (e.evaluate(subject, "quick") for e in evaluators)
    assert together.metrics == alone.metrics
    assert together.baselines == alone.baselines
    # every decision of every policy, not only the averages
    dumps = [{k: [t.model_dump_json() for t in v] for k, v in e._cache.items()} for e in evaluators]
    assert dumps[0] == dumps[1]
