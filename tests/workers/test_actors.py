"""Actors: reference policies, and model presets served by LMPolicy with their token record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import DecisionMade, Stamper, decode, encode
from dojo.workers.actors import LMActor, ReferenceActor, make_actor
from dojo.workers.rollout import rollout


@pytest.fixture(scope="module")
def tiny_actor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LMActor]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    threads = torch.get_num_threads()
    actor = make_actor("tiny", settings)
    assert torch.get_num_threads() == settings.torch_threads == 1
    assert isinstance(actor, LMActor)
    yield actor
    torch.set_num_threads(threads)


def test_tiny_decisions_carry_the_tokens_they_were_sampled_with(tiny_actor: LMActor) -> None:
    spec = EpisodeSpec(episode_type="E-1.1", seed=1, stage=1)
    events = list(rollout(spec, "ep-tiny", tiny_actor, Stamper("test")))
    decisions = [e for e in events if isinstance(e, DecisionMade)]
    assert decisions, "the episode should reach at least one decision"
    tokenizer = tiny_actor.policy.tokenizer
    for decision in decisions:
        assert decision.policy_version == tiny_actor.version == "tiny-base"
        assert decision.prompt_token_ids == tokenizer.encode(
            decision.prompt_text, add_special_tokens=False
        )
        n = len(decision.completion_token_ids)
        assert n > 0 and len(decision.logprobs) == n
        assert decision.allowed_token_ids is not None and len(decision.allowed_token_ids) == n
        assert all(lp <= 0.0 for lp in decision.logprobs)
        for token, allowed in zip(
            decision.completion_token_ids, decision.allowed_token_ids, strict=True
        ):
            assert allowed is None or token in allowed
        assert decision.move.valid  # constrained decoding only produces grammatical moves
        assert decode(encode(decision)) == decision


def test_reference_policies_are_text_only() -> None:
    actor = make_actor("senior", Settings())
    assert isinstance(actor, ReferenceActor) and actor.version == "reference-senior"


def test_an_unknown_policy_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown policy 'sage'.*random, junior, senior"):
        make_actor("sage", Settings(data_dir=tmp_path))
