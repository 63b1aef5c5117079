"""``--adapter latest`` follows the registry: a newly published version answers the next request."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import torch
from openai import OpenAI

from dojo.config import Settings
from dojo.policy import AdapterRegistry, LMPolicy
from dojo.policy.registry import registry_root
from dojo.serve.engine import load_engine

from .conftest import publish, running, trained_policy


def test_latest_follows_each_newly_published_version_between_requests(
    fresh_settings: Settings,
) -> None:
    settings = fresh_settings
    engine = load_engine(settings, "tiny", "latest")

    def ask(client: OpenAI, model: str = "tiny") -> tuple[str | None, list[float]]:
        answer = client.completions.create(
            model=model, prompt="story 2", max_tokens=6, temperature=0, logprobs=1
        )
        logprobs: Any = answer.choices[0].logprobs
        return answer.system_fingerprint, logprobs.token_logprobs

    with running(engine, settings) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        served, base = ask(client)
        assert served == "tiny:base"  # nothing published yet: the base answers
        first = publish(settings, trained_policy(settings, seed=1))
        assert [m.id for m in client.models.list().data] == ["tiny", f"tiny:{first.version}"]
        served, one = ask(client)
        assert served == f"tiny:{first.version}" and one != base
        second = publish(settings, trained_policy(settings, seed=2))
        served, two = ask(client, model=f"tiny:{second.version}")
        assert served == f"tiny:{second.version}" and two not in (one, base)
        listed: Any = client.models.list().data[1]
        assert listed.id == f"tiny:{second.version}"
        assert listed.model_extra["dojo"]["adapter"] == second.version
        assert listed.created == int(second.created_at.timestamp())
        # the version it no longer serves is no longer a model here
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model=f"tiny:{first.version}", prompt="x", max_tokens=1)
    # the answers were those of the published weights, as Dojo loads them
    registry = AdapterRegistry(registry_root(settings.data_dir, engine.policy.source))
    loaded = LMPolicy.load("tiny", registry.path(second.version), settings=settings)
    ids = loaded.tokenizer.encode("story 2")
    expected = []
    with torch.no_grad():
        for _ in range(6):
            logprobs = torch.log_softmax(
                loaded.model(input_ids=torch.tensor([ids])).logits[0, -1], -1
            )
            ids.append(int(logprobs.argmax()))
            expected.append(float(logprobs.max()))
    assert two == pytest.approx(expected, abs=1e-4)


def test_a_pinned_version_is_not_followed(fresh_settings: Settings) -> None:
    settings = fresh_settings
    first = publish(settings, trained_policy(settings, seed=1))
    engine = load_engine(settings, "tiny", first.version)
    assert engine.registry is None and engine.version == first.version
    publish(settings, trained_policy(settings, seed=2))
    with running(engine, settings) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        answer = client.completions.create(model="tiny", prompt="story", max_tokens=2)
        assert answer.system_fingerprint == f"tiny:{first.version}"
