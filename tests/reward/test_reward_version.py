"""The reward function's version: one weight changed moves reward_version and nothing else."""

from __future__ import annotations

from pathlib import Path

import yaml

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import DecisionMade, EpisodeCompleted, Stamper
from dojo.judge.factory import judge_stack
from dojo.reward import DEFAULT_CONFIG, DecisionRecord, attribute_episode, load_reward_config
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def pivot_episode() -> tuple[EpisodeSpec, list[DecisionRecord], EpisodeCompleted]:
    """A recorded implementation episode whose decisions include a pivot checkpoint."""
    for seed in range(50):
        spec = EpisodeSpec(episode_type="E-1.3", seed=seed, stage=1)
        events = list(
            rollout(spec, f"ep-{seed}", ReferenceActor("senior"), Stamper("t"), timed=False)
        )
        decisions = [e for e in events if isinstance(e, DecisionMade)]
        if any(d.transition == "pivot" for d in decisions):
            records = [DecisionRecord.from_event(d) for d in decisions]
            completed = events[-1]
            assert isinstance(completed, EpisodeCompleted)
            return spec, records, completed
    raise AssertionError("no seed gave a pivot")


def test_one_weight_changes_reward_version_and_nothing_else(tmp_path: Path) -> None:
    original = yaml.safe_load(DEFAULT_CONFIG.read_text())
    changed = yaml.safe_load(DEFAULT_CONFIG.read_text())
    changed["transitions"]["pivot"] = 0.2  # was 0.15
    base = load_reward_config(write(tmp_path / "base.yaml", original))
    new = load_reward_config(write(tmp_path / "new.yaml", changed))

    assert new.reward_version != base.reward_version
    # every other number of the function is what it was
    assert new.model_copy(update={"transitions": base.transitions}) == base
    # and the version names the content, not the file: same data, same version
    assert load_reward_config(DEFAULT_CONFIG).reward_version == base.reward_version

    # nothing else moves with it: the judge's version, and every reward the weight
    # does not enter (decisions other than the pivot) stay as they were
    settings = Settings(reward_config=tmp_path / "new.yaml")
    assert judge_stack(settings).version == judge_stack(Settings()).version
    spec, records, completed = pivot_episode()
    before = attribute_episode(spec, records, completed.outcome, config=base)
    after = attribute_episode(spec, records, completed.outcome, config=new)
    assert (before.reward_version, after.reward_version) == (
        base.reward_version,
        new.reward_version,
    )
    for record, old, now in zip(records, before.decisions, after.decisions, strict=True):
        if record.transition == "pivot":
            assert now.vector["transition_bonus"] != old.vector["transition_bonus"]
            assert now.scalar != old.scalar
        else:
            assert now == old


def test_layout_and_comments_do_not_change_the_version(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    reordered = dict(reversed(list(data.items())))
    text = "# a comment that changes nothing\n" + yaml.safe_dump(reordered, indent=4)
    (tmp_path / "same.yaml").write_text(text)
    same = load_reward_config(tmp_path / "same.yaml")
    assert same.reward_version == load_reward_config().reward_version
