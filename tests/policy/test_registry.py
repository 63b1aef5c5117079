"""The adapter registry: atomic versioned folders that reload to the same policy."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from peft import PeftModel

from dojo.config import Settings
from dojo.policy import AdapterManifest, AdapterRegistry, LMPolicy, LoraSettings
from dojo.policy.lora import save_adapter

from .observations import observation
from .test_lora import logits, ppo_like_step


@pytest.fixture
def trained(load_tiny: Callable[..., LMPolicy]) -> LMPolicy:
    policy = load_tiny(trainable=True)
    ppo_like_step(policy)
    return policy


def publish(
    registry: AdapterRegistry,
    policy: LMPolicy,
    parent: str | None = None,
    updates: int = 1,
    lineage: str | None = None,
) -> AdapterManifest:
    assert isinstance(policy.model, PeftModel)
    return registry.publish(
        policy.model,
        base_model=policy.source.base_id,
        parent_version=parent,
        updates=updates,
        metrics={"loss": 0.25, "kl": 0.01},
        lineage=lineage,
    )


def test_versions_are_numbered_listed_and_documented(tmp_path: Path, trained: LMPolicy) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    assert registry.versions() == [] and registry.latest() is None
    first = publish(registry, trained)
    second = publish(registry, trained, parent=first.version, updates=2)
    assert (first.version, second.version) == ("v000001", "v000002")
    assert [m.version for m in registry.versions()] == ["v000001", "v000002"]
    assert registry.latest() == second == registry.manifest("v000002")
    assert sorted(p.name for p in registry.root.iterdir()) == [
        "v000001",
        "v000002",
    ]  # no scratch left
    folder = registry.path("v000002")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "manifest.json"} <= {
        p.name for p in folder.iterdir()
    }
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parent_version"] == "v000001" and manifest["updates"] == 2
    assert manifest["base_model"] == trained.source.base_id and manifest["lora_r"] == 8
    card = (folder / "README.md").read_text()
    for fact in (
        trained.source.base_id,
        "v000001",
        "optimizer updates: 2",
        "| kl | 0.01 |",
        "created at",
    ):
        assert fact in card
    with pytest.raises(KeyError):
        registry.path("v000009")


def test_the_newest_version_of_a_lineage(tmp_path: Path, trained: LMPolicy) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    assert registry.latest(lineage="a") is None
    publish(registry, trained, lineage="a")
    mine = publish(registry, trained, updates=2, lineage="a")
    other = publish(registry, trained, lineage="b")
    assert registry.latest(lineage="a") == mine and registry.latest(lineage="b") == other
    assert registry.latest() == other and registry.latest(lineage="c") is None


def test_saving_an_adapter_renders_no_model_card_template(
    tmp_path: Path, trained: LMPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PEFT renders a card from a Jinja template, compiled on every save, when a folder
    # has none: the learner saves adapters at every update
    def no_template(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model card template was rendered")

    monkeypatch.setattr(ModelCard, "from_template", no_template)
    assert isinstance(trained.model, PeftModel)
    save_adapter(trained.model, tmp_path / "adapter")
    assert "library_name: peft" in (tmp_path / "adapter" / "README.md").read_text()
    registry = AdapterRegistry(tmp_path / "adapters")
    publish(registry, trained)  # a version's card is Dojo's own, written after PEFT's save
    assert "# Dojo policy adapter v000001" in (registry.path("v000001") / "README.md").read_text()


def test_pruning_keeps_the_newest_versions_and_the_numbering_goes_on(
    tmp_path: Path, trained: LMPolicy
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    assert registry.prune(2) == []  # nothing published yet
    for updates in range(1, 5):
        publish(registry, trained, updates=updates)
    assert registry.prune(2) == ["v000001", "v000002"]
    assert [m.version for m in registry.versions()] == ["v000003", "v000004"]
    assert sorted(p.name for p in registry.root.iterdir()) == ["v000003", "v000004"]
    with pytest.raises(KeyError):
        registry.path("v000001")
    assert publish(registry, trained, updates=5).version == "v000005"
    assert registry.prune(5) == []
    with pytest.raises(ValueError, match="keep at least the newest"):
        registry.prune(0)


def test_a_published_adapter_reloads_to_identical_logits(
    tmp_path: Path,
    trained: LMPolicy,
    settings: Settings,
    tiny: LMPolicy,
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    version = publish(registry, trained).version
    reloaded = LMPolicy.load("tiny", registry.path(version), settings=settings)
    assert reloaded.version == version and tiny.version == "tiny-base"
    assert torch.equal(logits(reloaded), logits(trained))
    g = trained.act(observation(), 4)
    assert reloaded.act(observation(), 4).model_dump() == g.model_dump()


def test_workers_swap_adapters_in_place(
    tmp_path: Path, load_tiny: Callable[..., LMPolicy], trained: LMPolicy
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    v1 = publish(registry, trained).version
    ppo_like_step(trained)
    v2 = publish(registry, trained, parent=v1).version
    worker = load_tiny()
    worker.use_adapter(registry.path(v1))
    assert worker.version == v1
    first = logits(worker)
    worker.use_adapter(registry.path(v2))
    assert worker.version == v2
    assert torch.equal(logits(worker), logits(trained))
    assert not torch.equal(first, logits(worker))


def test_workers_swap_to_an_adapter_of_another_shape(
    tmp_path: Path, load_tiny: Callable[..., LMPolicy]
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    small = load_tiny(
        trainable=True, lora=LoraSettings(r=2, alpha=4, target_modules=("q_proj", "v_proj"))
    )
    ppo_like_step(small)
    version = publish(registry, small).version
    worker = load_tiny(trainable=True)  # r=8 on every projection
    worker.use_adapter(registry.path(version))
    assert worker.version == version
    assert torch.equal(logits(worker), logits(small))


def test_an_adapter_for_another_base_is_refused(
    tmp_path: Path, trained: LMPolicy, load_tiny: Callable[..., LMPolicy]
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    assert isinstance(trained.model, PeftModel)
    manifest = registry.publish(
        trained.model, base_model="tiny-000000000000", parent_version=None, updates=1
    )
    with pytest.raises(ValueError, match="trained on 'tiny-000000000000'"):
        load_tiny(adapter=registry.path(manifest.version))


def test_concurrent_publishers_get_distinct_complete_versions(
    tmp_path: Path, trained: LMPolicy
) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    barrier = threading.Barrier(3)
    published: list[str] = []

    def run() -> None:
        barrier.wait()
        published.append(publish(registry, trained).version)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(published) == ["v000001", "v000002", "v000003"]
    assert [m.version for m in registry.versions()] == sorted(published)
