"""Advantages and the PPO update, on hand-made numbers and on the tiny model."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import torch

from dojo.env.moves import MoveSpec
from dojo.env.protocol import Observation
from dojo.policy import LMPolicy, SamplingSettings
from dojo.training.advantages import ValueTable, compute_advantages
from dojo.training.ppo import PPOConfig, ppo_update
from dojo.training.samples import DecisionSample, version_number


def sample(trajectory: str, step: int, reward: float, ret: float) -> DecisionSample:
    return DecisionSample(
        trajectory_id=trajectory,
        decision_id=f"{trajectory}/{step}",
        episode_type="E-1.1",
        step=step,
        policy_version="tiny-base",
        prompt_token_ids=[1],
        completion_token_ids=[2],
        logprobs=[-1.0],
        allowed_token_ids=[[2, 3]],
        reward=reward,
        ret=ret,
    )


def test_gae_uses_the_value_table_and_treats_the_last_decision_as_terminal() -> None:
    table = ValueTable(values={"E-1.1/0": 0.5, "E-1.1/1": 0.25})
    samples = [sample("a", 0, 0.1, 0.4), sample("a", 1, 0.3, 0.3), sample("b", 0, 0.2, 0.2)]
    out = compute_advantages(samples, table, gamma=1.0, lam=0.5, normalize=False)
    d1 = 0.3 - 0.25  # last decision of a: nothing follows
    d0 = 0.1 + 0.25 - 0.5
    assert out[1].advantage == pytest.approx(d1)
    assert out[0].advantage == pytest.approx(d0 + 0.5 * d1)
    assert out[2].advantage == pytest.approx(0.2 - 0.5)  # b's only decision is its last
    # the table learns from the batch only afterwards: 0.9 old + 0.1 batch mean
    assert table.values["E-1.1/0"] == pytest.approx(0.9 * 0.5 + 0.1 * 0.3)


def test_an_unseen_situation_is_valued_by_the_other_decisions_in_it_never_by_itself() -> None:
    out = compute_advantages(
        [sample("a", 0, 1.0, 1.0), sample("b", 0, 0.0, 0.0)], ValueTable(), normalize=False
    )
    assert [s.advantage for s in out] == pytest.approx([1.0, -1.0])
    alone = compute_advantages([sample("c", 0, 0.7, 0.7)], ValueTable(), normalize=False)
    assert alone[0].advantage == pytest.approx(0.7)


def test_version_numbers() -> None:
    assert version_number("tiny-base") == 0
    assert version_number("v000012") == 12
    with pytest.raises(ValueError, match="not one of this learner's versions"):
        version_number("reference-senior")


MOVES = (MoveSpec(name="signal_ready"), MoveSpec(name="ask_question"), MoveSpec(name="commit"))


def test_ppo_raises_the_probability_of_the_rewarded_move(
    load_tiny: Callable[..., LMPolicy],
) -> None:
    torch.manual_seed(0)
    policy = load_tiny(trainable=True, sampling=SamplingSettings(max_text_tokens=0))
    params = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    observation = Observation(text="x", phase="elicitation", step=0, moves=MOVES)
    config = PPOConfig(epochs=2, minibatch_size=16, kl_coef=0.01, entropy_coef=0.001)
    rng = random.Random(0)

    def share_of_commit() -> float:
        with torch.no_grad():
            moves = [g.text.split()[0] for g in policy.act_batch([observation] * 64, range(64))]
        return moves.count("commit") / len(moves)

    before = share_of_commit()
    for update in range(6):
        generations = policy.act_batch([observation] * 32, range(100 * update, 100 * update + 32))
        rewards = [1.0 if g.text.split()[0] == "commit" else 0.0 for g in generations]
        mean = sum(rewards) / len(rewards)
        samples = [
            DecisionSample(
                trajectory_id=str(i),
                decision_id=str(i),
                episode_type="E-1.1",
                step=0,
                policy_version="tiny-base",
                prompt_token_ids=g.prompt_token_ids,
                completion_token_ids=g.completion_token_ids,
                logprobs=g.logprobs,
                allowed_token_ids=g.allowed_token_ids,
                reward=r,
                advantage=r - mean,
            )
            for i, (g, r) in enumerate(zip(generations, rewards, strict=True))
        ]
        stats = ppo_update(policy.model, optimizer, None, samples, config, pad_token_id=0, rng=rng)
        assert stats.kl_to_reference is not None and stats.kl_to_reference >= 0
        assert 0.0 <= stats.clip_fraction <= 1.0
    assert share_of_commit() > before + 0.3
