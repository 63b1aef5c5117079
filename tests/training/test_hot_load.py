"""Environment workers pick up each published version between episodes, and act with its weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import DecisionMade, Stamper
from dojo.policy import AdapterRegistry, LMPolicy, completion_logprobs
from dojo.policy.registry import registry_root
from dojo.workers.actors import LMActor
from dojo.workers.rollout import rollout


def perturbed(settings: Settings, seed: int) -> LMPolicy:
    """A trainable tiny policy whose adapter is visibly not the base."""
    policy = LMPolicy.load("tiny", settings=settings, trainable=True)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return policy


def decisions(actor: LMActor, episode_id: str) -> list[DecisionMade]:
    spec = EpisodeSpec(episode_type="E-1.1", seed=7, stage=1)
    events = rollout(spec, episode_id, actor, Stamper("test"), timed=False)
    return [e for e in events if isinstance(e, DecisionMade)]


def test_workers_load_the_newest_version_between_episodes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    actor = LMActor.load("tiny", settings)
    assert actor.version.endswith("-base")
    assert {d.policy_version for d in decisions(actor, "ep-0")} == {actor.version}

    registry = AdapterRegistry(registry_root(settings.data_dir, actor.policy.source))
    for n, seed in enumerate((1, 2), start=1):
        trained = perturbed(settings, seed)
        registry.publish(
            trained.model,  # type: ignore[arg-type]
            base_model=trained.source.base_id,
            parent_version=None,
            updates=n,
            type_returns={"E-1.1": 0.5, "E-1.5": 0.1 * n},
        )
        actor.between_episodes()
        assert actor.version == f"v{n:06d}"
        # what the worker deals by comes with the version (dojo.workers.focus)
        assert actor.type_returns == {"E-1.1": 0.5, "E-1.5": 0.1 * n}
        made = decisions(actor, f"ep-{n}")
        assert {d.policy_version for d in made} == {f"v{n:06d}"}
        # the recorded log-probs are the published weights' own
        with torch.no_grad():
            scores = completion_logprobs(
                trained.model,
                [d.prompt_token_ids for d in made],
                [d.completion_token_ids for d in made],
                [d.allowed_token_ids or [None] * len(d.completion_token_ids) for d in made],
                pad_token_id=trained.tokens.pad_token_id,
            )
        for row, d in enumerate(made):
            got = scores.logprobs[row, : len(d.logprobs)].tolist()
            assert got == pytest.approx(d.logprobs, abs=1e-5)

    actor.between_episodes()  # nothing newer: nothing reloaded
    assert actor.version == "v000002"


def test_a_version_for_another_base_is_not_loaded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    actor = LMActor.load("tiny", settings)
    registry = AdapterRegistry(registry_root(settings.data_dir, actor.policy.source))
    trained = perturbed(settings, 3)
    registry.publish(
        trained.model,  # type: ignore[arg-type]
        base_model="some-other-base",
        parent_version=None,
        updates=1,
    )
    actor.between_episodes()
    assert actor.version.endswith("-base")
