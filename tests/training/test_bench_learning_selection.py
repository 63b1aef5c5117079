"""bench.learning chooses its trained version on validation episodes, never on test ones."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.learning import (
    VALIDATION_OFFSET,
    _temperatures,
    candidate_adapters,
    candidate_versions,
    held_out_specs,
    select_adapter,
)
from dojo.config import Settings
from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.policy import AdapterRegistry, LMPolicy
from dojo.policy.averaging import WeightAverage


def test_validation_and_test_episodes_never_share_a_seed() -> None:
    test = held_out_specs(1, 250)
    validation = held_out_specs(1, 250, offset=VALIDATION_OFFSET)
    assert {s.seed for s in test}.isdisjoint({s.seed for s in validation})
    # both are held out from training (training seeds lie below HELD_OUT_SEED_BASE)
    assert min(s.seed for s in test + validation) >= HELD_OUT_SEED_BASE
    assert [s.episode_type for s in test] == [s.episode_type for s in validation]


def test_candidates_are_the_newest_versions_spread_over_the_runs_end() -> None:
    versions = [f"v{i:06d}" for i in range(1, 358)]
    chosen = candidate_versions(versions, 6)
    assert chosen[0] == "v000357" and len(chosen) == 6
    assert chosen == sorted(chosen, reverse=True)
    assert int(chosen[-1][1:]) > 357 * 7 // 8  # within the last eighth
    assert candidate_versions(versions[:4], 6) == ["v000004", "v000003", "v000002", "v000001"]


def test_a_candidate_offers_its_averaged_adapter_where_it_was_published_with_one(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    policy = LMPolicy.load("tiny", settings=settings, trainable=True)
    average = WeightAverage(policy.model, decay=0.9)
    registry = AdapterRegistry(tmp_path / "adapters")
    plain = registry.publish(policy.model, base_model=policy.source.base_id, parent_version=None, updates=1)  # type: ignore[arg-type]  # fmt: skip
    averaged = registry.publish(policy.model, base_model=policy.source.base_id, parent_version=plain.version, updates=2, average=average)  # type: ignore[arg-type]  # fmt: skip
    assert candidate_adapters(registry, plain.version) == [registry.path(plain.version)]
    assert candidate_adapters(registry, averaged.version) == [
        registry.path(averaged.version) / "averaged",
        registry.path(averaged.version),
    ]


def test_each_candidate_adapter_is_validated_at_each_temperature(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    policy = LMPolicy.load("tiny", settings=settings, trainable=True)
    registry = AdapterRegistry(tmp_path / "adapters")
    average = WeightAverage(policy.model, decay=0.9)
    version = registry.publish(policy.model, base_model=policy.source.base_id, parent_version=None, updates=1, average=average)  # type: ignore[arg-type]  # fmt: skip
    specs = held_out_specs(1, 5, offset=VALIDATION_OFFSET)

    path, best, scores = select_adapter(policy, registry, [version.version], specs, (1.0, 0.05))

    tried = [(s["adapter"], s["temperature"]) for s in scores]
    assert tried == [
        (f"{version.version}-averaged", 1.0),
        (f"{version.version}-averaged", 0.05),
        (version.version, 1.0),
        (version.version, 0.05),
    ]
    assert best == max(scores, key=lambda s: s["mean"])
    assert path in candidate_adapters(registry, version.version)
    # the temperature reached the sampler: the same episodes went otherwise
    assert scores[0]["mean"] != scores[1]["mean"]


def test_temperatures_parse_from_the_command_line() -> None:
    assert _temperatures("1,0.5") == (1.0, 0.5)
    for bad in ("", "1,x", "1,0"):
        with pytest.raises(argparse.ArgumentTypeError):
            _temperatures(bad)
