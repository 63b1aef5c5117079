"""Advantages: GAE(λ) over each episode, with a tabular value per (episode type, decision index).

Why this, and not a value head or group baselines:

* Rewards arrive per decision (reward attribution credits each move), so a
  decision's own reward is a low-noise signal of its quality, and the return
  after it is where the noise is: every later random move of an exploring policy
  lands in it. GAE(λ) trades the two — ``λ = 1`` is the plain return-to-go minus
  a baseline, smaller ``λ`` leans on the value estimate of the next situation
  instead of the noisy rest of the episode.
* The value of a situation is estimated per ``(episode type, decision index)``:
  episodes of one type at one decision index face similar situations (the same
  moves on offer, a similar amount already known). This table needs no second
  network and no extra forward pass, and it is never as wrong as a half-trained
  value head on a random-init model is at the start of training.
* Group baselines (GRPO-style) need several episodes of one scenario seed in
  flight together; environment workers draw fresh seeds (evaluation seeds are
  never trained on) and repeating seeds would spend scarce rollouts on the same
  scenario.

The table is a running mean of the observed returns-to-go, updated *after* a
batch's advantages are computed (a decision never serves as its own baseline),
and it is part of the learner's checkpoint. Advantages are then normalised over
the batch, so the learning rate means the same whatever the reward scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pydantic import BaseModel, Field

from dojo.training.samples import DecisionSample

MAX_STEP_BUCKET = 40  # decisions beyond this share one bucket (rare: step caps are 25-70)


class ValueTable(BaseModel):
    """Running mean return-to-go per ``"<episode type>/<decision index>"``."""

    decay: float = Field(default=0.9, ge=0.0, lt=1.0)
    values: dict[str, float] = Field(default_factory=dict)

    @staticmethod
    def key(sample: DecisionSample) -> str:
        return f"{sample.episode_type}/{min(sample.step, MAX_STEP_BUCKET)}"

    def value(self, sample: DecisionSample) -> float | None:
        return self.values.get(self.key(sample))

    def episode_returns(self) -> dict[str, float]:
        """The running mean return of each episode type: its value at the first decision."""
        return {
            key.rsplit("/", 1)[0]: value for key, value in self.values.items() if key.endswith("/0")
        }

    def update(self, samples: Sequence[DecisionSample]) -> None:
        """Fold the batch's mean return per bucket into the running means."""
        for key, mean in _bucket_means(samples).items():
            old = self.values.get(key)
            self.values[key] = mean if old is None else self.decay * old + (1 - self.decay) * mean


def _bucket_means(samples: Sequence[DecisionSample]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for s in samples:
        acc = sums.setdefault(ValueTable.key(s), [0.0, 0.0])
        acc[0] += s.ret
        acc[1] += 1
    return {key: total / n for key, (total, n) in sums.items()}


def compute_advantages(
    samples: Sequence[DecisionSample],
    table: ValueTable,
    *,
    gamma: float = 1.0,
    lam: float = 0.95,
    normalize: bool = True,
) -> list[DecisionSample]:
    """Samples with ``advantage`` set (GAE(λ) per trajectory); the table then learns from them.

    ``samples`` holds whole trajectories, each in step order (as
    :func:`~dojo.training.samples.decision_samples` gives them). A bucket the table
    has never seen is valued at the mean return of the batch's other decisions there
    (0 if there are none). The last decision
    of a trajectory is terminal: nothing follows it.
    """
    if not samples:
        return []
    sums: dict[str, list[float]] = {}
    for s in samples:
        acc = sums.setdefault(ValueTable.key(s), [0.0, 0.0])
        acc[0] += s.ret
        acc[1] += 1

    def value(s: DecisionSample) -> float:
        v = table.value(s)
        if v is not None:
            return v
        # a bucket never seen: the mean return of the *other* decisions of this batch
        # there (a decision's own return as its baseline would cancel its advantage)
        total, n = sums[ValueTable.key(s)]
        return (total - s.ret) / (n - 1) if n > 1 else 0.0

    raw = [0.0] * len(samples)
    gae = 0.0
    for i in range(len(samples) - 1, -1, -1):
        s = samples[i]
        last = i == len(samples) - 1 or samples[i + 1].trajectory_id != s.trajectory_id
        if last:
            gae = 0.0
        next_value = 0.0 if last else value(samples[i + 1])
        delta = s.reward + gamma * next_value - value(s)
        gae = delta + gamma * lam * gae
        raw[i] = gae
    if normalize and len(raw) > 1:
        mean = sum(raw) / len(raw)
        std = math.sqrt(sum((a - mean) ** 2 for a in raw) / (len(raw) - 1))
        raw = [(a - mean) / (std + 1e-8) for a in raw]
    table.update(samples)
    return [replace(s, advantage=a) for s, a in zip(samples, raw, strict=True)]
