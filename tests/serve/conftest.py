"""Shared fixtures: a data dir with the tiny base, adapters with trained-looking weights,
and real ``dojo serve`` apps run by uvicorn on free loopback ports in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from openai import OpenAI
from peft import PeftModel
from torch_threads import one_torch_thread  # noqa: F401 (autouse)

from dojo.config import Settings
from dojo.policy import AdapterManifest, AdapterRegistry, LMPolicy
from dojo.policy.registry import registry_root
from dojo.serve.app import create_app, server
from dojo.serve.engine import Engine, load_engine


@pytest.fixture(scope="session")
def serve_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the shared server: prompts capped at 8,000 tokens (the tiny model's
    context is 8,192), 64 KiB bodies, 512 generated tokens a request."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("serve-data"),
        serve_max_prompt_tokens=8000,
        serve_max_body_bytes=65_536,
        serve_max_tokens=512,
    )


@contextmanager
def running(engine: Engine, settings: Settings) -> Iterator[str]:
    """``dojo serve``'s app for ``engine`` on a free loopback port; yields its URL."""
    srv = server(create_app(engine, settings), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server took over a minute to start"
        time.sleep(0.02)
    try:
        yield srv.url()
    finally:
        srv.should_exit = True
        thread.join(30)


@pytest.fixture(scope="session")
def engine(serve_settings: Settings) -> Engine:
    """The tiny preset following ``latest`` with nothing published: the base answers."""
    return load_engine(serve_settings, "tiny", "latest")


@pytest.fixture(scope="session")
def url(engine: Engine, serve_settings: Settings) -> Iterator[str]:
    with running(engine, serve_settings) as address:
        yield address


@pytest.fixture
def client(url: str) -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)


def trained_policy(settings: Settings, seed: int) -> LMPolicy:
    """A tiny policy with a fresh adapter whose weights are drawn (non-zero LoRA B and a
    changed output head copy), as if trained: it answers differently from the base."""
    policy = LMPolicy.load("tiny", settings=settings, trainable=True)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in policy.model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
            elif ".modules_to_save." in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.02)
    policy.model.eval()
    return policy


def publish(settings: Settings, policy: LMPolicy) -> AdapterManifest:
    """``policy``'s adapter published as the next version for its base, as the learner does."""
    assert isinstance(policy.model, PeftModel)
    registry = AdapterRegistry(registry_root(settings.data_dir, policy.source))
    return registry.publish(
        policy.model,
        base_model=policy.source.base_id,
        parent_version=None,
        updates=1,
        metrics={"loss": 0.5},
    )


@pytest.fixture
def fresh_settings(tmp_path: Path, serve_settings: Settings) -> Settings:
    """A data dir of this test's own (an empty adapter registry); the base is a copy."""
    return serve_settings.replace(data_dir=tmp_path / "data")


Publish = Callable[[Settings, LMPolicy], AdapterManifest]
