"""The learner without Kafka: PPO updates on the adapter, checkpoints, resume, publishing, staleness."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dojo.config import Settings
from dojo.events import LearnerUpdated, decode
from dojo.policy import LMPolicy
from dojo.training.checkpoint import latest_checkpoint
from dojo.training.trainer import Trainer

from .support import scored, specs


def learner_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "learner_minibatch_size": 16,
        "learner_max_policy_lag": 100,
        "learner_kl_coef": 0.01,
        "learner_lr": 3e-3,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def split_state(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    adapter = {k: v for k, v in state.items() if "lora_" in k or ".modules_to_save." in k}
    return adapter, {k: v for k, v in state.items() if k not in adapter}


def prompt_logits(policy: LMPolicy, trajectory_ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return policy.model(input_ids=torch.tensor([trajectory_ids])).logits


def test_updates_move_the_adapter_only_and_a_published_version_reloads_to_identical_logits(
    tmp_path: Path,
) -> None:
    settings = learner_settings(tmp_path)
    trainer = Trainer.load(settings)
    fresh = LMPolicy.load("tiny", settings=settings)  # the base, never trained
    _, pristine = split_state(fresh.model)
    before, _ = split_state(trainer.policy.model)
    trajectories = scored(trainer.policy, specs(8))

    for batch in (trajectories[:4], trajectories[4:]):
        result = trainer.train(batch)
        assert result.stats is not None and len(result.trained) == 4
        trainer.record(result)

    after, base = split_state(trainer.policy.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the adapter learned
    # the base weights are bit-identical to a freshly loaded base (PEFT prefixes its keys)
    unwrapped = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in base.items()
    }
    unwrapped = {k.replace(".original_module", ""): v for k, v in unwrapped.items()}
    assert unwrapped.keys() == pristine.keys()
    assert all(torch.equal(unwrapped[k], pristine[k]) for k in pristine)

    trainer.checkpoint()
    published = trainer.publish_pending()
    assert published is not None and published.policy_version == "v000001"
    assert published.updates == 2 and published.parent_version is None
    reloaded = LMPolicy.load("tiny", adapter=published.adapter_path, settings=settings)
    assert reloaded.version == "v000001"
    ids = trajectories[0].decisions[0].prompt_token_ids
    assert torch.equal(prompt_logits(reloaded, ids), prompt_logits(trainer.policy, ids))


def test_a_published_version_carries_the_running_return_per_episode_type(
    tmp_path: Path,
) -> None:
    trainer = Trainer.load(learner_settings(tmp_path))
    trajectories = scored(trainer.policy, specs(10))  # two episodes of each stage-1 type
    trainer.record(trainer.train(trajectories))
    trainer.checkpoint()
    published = trainer.publish_pending()
    assert published is not None
    manifest = trainer.registry.manifest(published.policy_version)
    # one batch: each type's return is the mean of its episodes' summed decision rewards
    returns: dict[str, list[float]] = {}
    for t in trajectories:
        returns.setdefault(t.spec.episode_type, []).append(sum(d.reward for d in t.decisions))
    assert manifest.type_returns.keys() == returns.keys()
    for episode_type, values in returns.items():
        assert manifest.type_returns[episode_type] == pytest.approx(sum(values) / len(values))
    card = (Path(published.adapter_path) / "README.md").read_text()
    assert "| E-1.5 |" in card


def test_the_average_of_the_weights_is_published_beside_them_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    settings = learner_settings(tmp_path, learner_average_decay=0.5)
    trainer = Trainer.load(settings)
    trajectories = scored(trainer.policy, specs(8))
    weights = [split_state(trainer.policy.model)[0]]
    for batch in (trajectories[:4], trajectories[4:]):
        trainer.record(trainer.train(batch))
        weights.append(split_state(trainer.policy.model)[0])
    # average = 0.5 * (0.5 * w0 + 0.5 * w1) + 0.5 * w2, in the order the learner folds them
    expected = {k: w.clone() for k, w in weights[0].items()}
    for w in weights[1:]:
        for k in expected:
            expected[k].mul_(0.5).add_(w[k], alpha=0.5)
    trainer.checkpoint()
    published = trainer.publish_pending()
    assert published is not None
    # publishing the average left the newest weights acting, bit for bit
    newest, _ = split_state(trainer.policy.model)
    assert all(torch.equal(newest[k], weights[-1][k]) for k in newest)

    manifest = trainer.registry.manifest(published.policy_version)
    assert manifest.averaged_decay == 0.5
    assert "Polyak average" in (Path(published.adapter_path) / "README.md").read_text()
    folder = trainer.registry.averaged_path(published.policy_version)
    averaged = LMPolicy.load("tiny", adapter=folder, settings=settings)
    assert averaged.version == f"{published.policy_version}-averaged"
    loaded, _ = split_state(averaged.model)
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    assert any(not torch.equal(loaded[k], newest[k]) for k in newest)  # it trails them

    resumed = Trainer.load(settings)
    assert resumed.average is not None and trainer.average is not None
    before, after = trainer.average.state_dict(), resumed.average.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_without_averaging_a_version_has_no_averaged_adapter(tmp_path: Path) -> None:
    settings = learner_settings(tmp_path, learner_average_decay=0.0)
    trainer = Trainer.load(settings)
    assert trainer.average is None
    trainer.record(trainer.train(scored(trainer.policy, specs(2))))
    trainer.checkpoint()
    published = trainer.publish_pending()
    assert published is not None
    assert trainer.registry.manifest(published.policy_version).averaged_decay is None
    with pytest.raises(KeyError, match="without an averaged adapter"):
        trainer.registry.averaged_path(published.policy_version)


def test_qlora_learner_trains_the_tiny_preset_on_cpu(tmp_path: Path) -> None:
    import bitsandbytes as bnb

    settings = learner_settings(tmp_path, learner_qlora=True)
    trainer = Trainer.load(settings)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in trainer.policy.model.modules())
    before, base_before = split_state(trainer.policy.model)
    trajectories = scored(trainer.policy, specs(4))
    result = trainer.train(trajectories)
    assert result.stats is not None
    assert all(torch.isfinite(torch.tensor(v)) for v in result.metrics.values())
    after, base_after = split_state(trainer.policy.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)


def test_a_resumed_trainer_continues_exactly_where_the_checkpoint_left(tmp_path: Path) -> None:
    settings = learner_settings(tmp_path)
    trainer = Trainer.load(settings)
    trajectories = scored(trainer.policy, specs(12))
    for batch in (trajectories[:4], trajectories[4:8]):
        trainer.record(trainer.train(batch))
    trainer.note_offsets({"t.trajectories:0": 8})
    trainer.checkpoint()

    resumed = Trainer.load(settings)
    assert resumed.state.model_dump() == trainer.state.model_dump()
    assert resumed.state.offsets == {"t.trajectories:0": 8}
    # the same next batch gives bit-identical weights: optimizer, scheduler, rng restored
    trainer.train(trajectories[8:])
    resumed.train(trajectories[8:])
    original, _ = split_state(trainer.policy.model)
    again, _ = split_state(resumed.policy.model)
    assert original.keys() == again.keys()
    assert all(torch.equal(original[k], again[k]) for k in original)


def test_publishing_after_a_crash_neither_skips_nor_repeats_a_version(tmp_path: Path) -> None:
    settings = learner_settings(tmp_path, learner_publish_every=1)
    trainer = Trainer.load(settings)
    trajectories = scored(trainer.policy, specs(4))
    trainer.record(trainer.train(trajectories))
    trainer.checkpoint()
    assert trainer.state.pending_publish is not None
    first = trainer.publish_pending()
    assert first is not None

    # killed after the registry rename, before the event went out: the restart owes it
    restarted = Trainer.load(settings)
    assert restarted.state.pending_publish is not None
    again = restarted.publish_pending()
    assert again is not None and again.event_id == first.event_id
    assert [m.version for m in restarted.registry.versions()] == ["v000001"]
    assert restarted.state.policy_version == "v000001" and restarted.policy.version == "v000001"
    # the outbox of that checkpoint holds the update's event, to be sent again
    outbox = [decode(e.encode()) for e in restarted.state.outbox]
    assert [type(e) for e in outbox] == [LearnerUpdated]
    assert latest_checkpoint(restarted.checkpoint_root) is not None


def test_the_learner_keeps_the_newest_versions_only(tmp_path: Path) -> None:
    settings = learner_settings(tmp_path, learner_publish_every=1, learner_keep_versions=2)
    trajectories = scored(Trainer.load(settings).policy, specs(6))

    def publish_three_updates(trainer: Trainer) -> None:
        for n in range(3):
            trainer.record(trainer.train(trajectories[2 * n : 2 * n + 2]))
            trainer.checkpoint()
            trainer.publish_pending()

    trainer = Trainer.load(settings)
    publish_three_updates(trainer)
    assert [m.version for m in trainer.registry.versions()] == ["v000002", "v000003"]
    assert trainer.state.policy_version == "v000003"
    keep_all = learner_settings(tmp_path / "all", learner_publish_every=1, learner_keep_versions=0)
    trainer = Trainer.load(keep_all)
    publish_three_updates(trainer)
    assert len(trainer.registry.versions()) == 3


def test_trajectories_beyond_the_lag_limit_are_dropped_and_reported(tmp_path: Path) -> None:
    settings = learner_settings(tmp_path, learner_max_policy_lag=2)
    trainer = Trainer.load(settings)
    trajectories = scored(trainer.policy, specs(6))  # acted by the base: version 0
    trainer.state.version_number = 3  # the learner is three versions on

    stale = trainer.train(trajectories[:3])
    assert stale.stats is None and len(stale.dropped) == 3  # nothing to learn from

    trainer.state.version_number = 2
    fresh = trainer.train(trajectories[3:])
    assert fresh.stats is not None and len(fresh.trained) == 3
    assert fresh.dropped == stale.dropped  # carried into the next update's record
    assert fresh.metrics["policy_lag"] == 2.0
    assert trainer.state.trajectories_dropped == 3


def test_trajectories_without_tokens_are_skipped(tmp_path: Path) -> None:
    from dojo.events import Stamper
    from dojo.training.local import score_events
    from dojo.workers.actors import ReferenceActor
    from dojo.workers.rollout import rollout

    settings = learner_settings(tmp_path)
    trainer = Trainer.load(settings)
    stamper = Stamper("test")
    scripted = score_events(
        rollout(specs(1)[0], "ep-senior", ReferenceActor("senior"), stamper), stamper
    )
    tokens = scored(trainer.policy, specs(2))
    result = trainer.train([scripted, *tokens])
    assert result.skipped == [str(scripted.event_id)]
    assert len(result.trained) == 2


def test_the_kl_coefficient_is_the_presets_unless_configured(tmp_path: Path) -> None:
    from dojo.policy.presets import DEEPSEEK_CODER_V2_LITE, TINY, Preset
    from dojo.training.trainer import ppo_config

    unset = Settings(data_dir=tmp_path)
    assert unset.learner.kl_coef is None
    assert ppo_config(unset, TINY).kl_coef == 0.0  # a random-init reference: nothing to keep
    assert ppo_config(unset, DEEPSEEK_CODER_V2_LITE).kl_coef == 0.01
    assert ppo_config(unset, None).kl_coef == Preset.kl_coef == 0.01
    configured = Settings(data_dir=tmp_path, learner_kl_coef=0.05)
    assert ppo_config(configured, TINY).kl_coef == 0.05
    assert ppo_config(Settings(data_dir=tmp_path, learner_kl_coef=0.0), None).kl_coef == 0.0


def test_the_learning_rate_and_epochs_are_the_presets_unless_configured(tmp_path: Path) -> None:
    from dojo.policy.presets import SMOLLM2_135M_INSTRUCT, TINY
    from dojo.training.trainer import learning_rate, ppo_config

    unset = Settings(data_dir=tmp_path)
    # the smollm2 preset's, measured by bench.learning (docs/learner.md)
    assert learning_rate(unset, SMOLLM2_135M_INSTRUCT) == 3e-4
    assert ppo_config(unset, SMOLLM2_135M_INSTRUCT).epochs == 3
    assert learning_rate(unset, TINY) == learning_rate(unset, None) == 5e-4
    assert ppo_config(unset, TINY).epochs == ppo_config(unset, None).epochs == 1
    configured = Settings(data_dir=tmp_path, learner_lr=1e-3, learner_epochs=2)
    assert learning_rate(configured, SMOLLM2_135M_INSTRUCT) == 1e-3
    assert ppo_config(configured, SMOLLM2_135M_INSTRUCT).epochs == 2
