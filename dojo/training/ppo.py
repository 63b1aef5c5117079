"""One PPO update over a batch of scored decisions, on the adapter's weights only.

Read top to bottom, as in CleanRL's ``ppo.py``:

1. the reference policy (the same model with its adapter switched off, no second
   copy) scores every completion once, without gradients (a chat model's episode is
   one conversation: all its decisions are scored in one forward pass over it);
2. for ``epochs`` passes over shuffled minibatches, the current policy re-scores
   the completions *under the masks they were sampled with* and at the sampling
   temperature, so new and behaviour log-probs come from the same constrained
   distribution;
3. per completion token that was a real choice (forced tokens of the grammar
   have log-prob 0 under every policy and are left out of every average):

   ``ratio           = exp(logp_new - logp_behaviour)``
   ``policy_loss     = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))``
   ``kl_to_reference = mean(exp(logp_ref - logp_new) - (logp_ref - logp_new) - 1)``  (k3)
   ``entropy         = mean(entropy of the masked sampling distribution)``
   ``loss            = policy_loss + kl_coef * kl_to_reference - entropy_coef * entropy``

4. gradients are clipped to ``max_grad_norm`` before each optimizer step.

Every decision's tokens share its advantage (see :mod:`dojo.training.advantages`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from dojo.policy import (
    TokenScores,
    adapter_disabled,
    completion_logprobs,
    conversation_logprobs,
)
from dojo.training.samples import DecisionSample, conversations, split_minibatches


class PPOConfig(BaseModel):
    """Hyper-parameters of one update (see the module docstring for each term)."""

    model_config = ConfigDict(frozen=True)

    epochs: int = Field(default=2, ge=1)
    minibatch_size: int = Field(default=64, ge=1, description="decisions per optimizer step")
    clip_coef: float = Field(default=0.2, gt=0)
    kl_coef: float = Field(default=0.02, ge=0)
    entropy_coef: float = Field(default=0.01, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    temperature: float = Field(default=1.0, gt=0, description="must equal the sampling temperature")
    target_kl: float | None = Field(
        default=None, gt=0, description="stop the epochs early once approx_kl exceeds this"
    )


class UpdateStats(BaseModel):
    """Means over the update's minibatches (``approx_kl``, ``clip_fraction``: last epoch)."""

    loss: float
    policy_loss: float
    kl_to_reference: float | None  # None: kl_coef 0, the reference was not scored
    entropy: float
    approx_kl: float
    clip_fraction: float
    grad_norm: float
    decisions: int
    choice_tokens: int
    optimizer_steps: int


@dataclass(frozen=True)
class _Minibatch:
    samples: list[DecisionSample]
    behaviour: Tensor  # (B, T) behaviour log-probs
    reference: Tensor | None  # (B, T) reference log-probs; None when kl_coef is 0
    advantages: Tensor  # (B,)
    choice: Tensor  # (B, T) bool: a token that was a real choice


def _score(
    model: nn.Module, samples: Sequence[DecisionSample], temperature: float, pad: int
) -> TokenScores:
    if any(s.context_offset for s in samples):  # conversations: one pass over each
        return conversation_logprobs(
            model,
            [
                [(s.prompt_token_ids, s.completion_token_ids, s.allowed_token_ids) for s in c]
                for c in conversations(samples)
            ],
            temperature=temperature,
        )
    return completion_logprobs(
        model,
        [s.prompt_token_ids for s in samples],
        [s.completion_token_ids for s in samples],
        [s.allowed_token_ids for s in samples],
        temperature=temperature,
        pad_token_id=pad,
    )


def _padded(rows: Sequence[Sequence[float]], width: int) -> Tensor:
    out = torch.zeros((len(rows), width))
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


def _choice_mask(samples: Sequence[DecisionSample], width: int) -> Tensor:
    """True where the policy had more than one option (free text counts as a choice)."""
    mask = torch.zeros((len(samples), width), dtype=torch.bool)
    for i, s in enumerate(samples):
        for t, allowed in enumerate(s.allowed_token_ids):
            mask[i, t] = allowed is None or len(allowed) > 1
    return mask


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def _prepare(
    model: nn.Module, samples: list[DecisionSample], config: PPOConfig, pad: int
) -> _Minibatch:
    width = max(len(s.completion_token_ids) for s in samples)
    reference = None
    if config.kl_coef > 0:  # the reference pass costs a forward per decision: only when used
        with torch.no_grad(), adapter_disabled(model):
            reference = _score(model, samples, config.temperature, pad).logprobs.cpu()
    return _Minibatch(
        samples=samples,
        behaviour=_padded([s.logprobs for s in samples], width),
        reference=reference,
        advantages=torch.tensor([s.advantage for s in samples], dtype=torch.float32),
        choice=_choice_mask(samples, width),
    )


def ppo_update(
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: LRScheduler | None,
    samples: Sequence[DecisionSample],
    config: PPOConfig,
    *,
    pad_token_id: int,
    rng: random.Random,
) -> UpdateStats:
    """Run ``config.epochs`` PPO epochs over ``samples`` (advantages already set)."""
    if not samples:
        raise ValueError("no samples to train on")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (load it with trainable=True)")

    # Minibatches are fixed for the update (the reference is scored once per
    # minibatch) and cut from the samples sorted by length, conversations whole
    # (see samples.split_minibatches). Their order is shuffled every epoch by the seeded rng.
    chunks = split_minibatches(samples, config.minibatch_size)
    was_training = model.training
    model.eval()
    minibatches = [_prepare(model, chunk, config, pad_token_id) for chunk in chunks]

    totals = {
        "loss": 0.0,
        "policy_loss": 0.0,
        "kl_to_reference": 0.0,
        "entropy": 0.0,
        "grad_norm": 0.0,
    }
    steps = 0
    approx_kls: list[float] = []
    clip_fractions: list[float] = []
    model.train()  # dropout is 0 everywhere; train mode only enables gradient checkpointing
    try:
        for _epoch in range(config.epochs):
            approx_kls, clip_fractions = [], []
            for index in rng.sample(range(len(minibatches)), len(minibatches)):
                mb = minibatches[index]
                scores = _score(model, mb.samples, config.temperature, pad_token_id)
                new_logp = scores.logprobs.cpu()
                entropy_t = scores.entropy.cpu()
                choice = mb.choice & scores.mask.cpu()

                log_ratio = new_logp - mb.behaviour
                ratio = log_ratio.exp()
                advantages = mb.advantages.unsqueeze(1)
                pg_loss1 = -advantages * ratio
                pg_loss2 = -advantages * torch.clamp(
                    ratio, 1 - config.clip_coef, 1 + config.clip_coef
                )
                policy_loss = _masked_mean(torch.max(pg_loss1, pg_loss2), choice)

                entropy = _masked_mean(entropy_t, choice)
                loss = policy_loss - config.entropy_coef * entropy
                if mb.reference is not None:
                    ref_log_ratio = mb.reference - new_logp
                    kl_to_reference = _masked_mean(ref_log_ratio.exp() - ref_log_ratio - 1, choice)
                    loss = loss + config.kl_coef * kl_to_reference
                    totals["kl_to_reference"] += float(kl_to_reference.detach())

                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()

                with torch.no_grad():
                    # CleanRL's low-variance estimator of KL(behaviour || new)
                    approx_kls.append(float(_masked_mean((ratio - 1) - log_ratio, choice)))
                    clipped = ((ratio - 1).abs() > config.clip_coef).float()
                    clip_fractions.append(float(_masked_mean(clipped, choice)))
                totals["loss"] += float(loss.detach())
                totals["policy_loss"] += float(policy_loss.detach())
                totals["entropy"] += float(entropy.detach())
                totals["grad_norm"] += float(grad_norm)
                steps += 1
            if (
                config.target_kl is not None
                and sum(approx_kls) / len(approx_kls) > config.target_kl
            ):
                break
    finally:
        model.train(was_training)

    kl_sum = totals.pop("kl_to_reference")
    kl = kl_sum / steps if config.kl_coef > 0 else None
    return UpdateStats(
        **{k: v / steps for k, v in totals.items()},
        kl_to_reference=kl,
        approx_kl=sum(approx_kls) / len(approx_kls),
        clip_fraction=sum(clip_fractions) / len(clip_fractions),
        decisions=len(samples),
        choice_tokens=int(sum(int(mb.choice.sum()) for mb in minibatches)),
        optimizer_steps=steps,
    )
