"""A Polyak average of an adapter's weights: a policy to evaluate and deploy.

Each PPO update moves the adapter by a noisy step, so the newest weights jitter
around where training is heading; an exponential moving average of the recent
weights sits nearer the middle of that jitter. On the tiny preset (in-process,
6,400 stage-1 episodes, the same 250 held-out episodes for both) the average at
decay 0.97 scored 0.487 and 0.535 where the newest weights of the same runs
scored 0.476 and 0.517 (decay 0.95: 0.479, 0.536; 0.985: 0.479, 0.515), and,
with a four times larger learning rate for LoRA's B, 0.501 and 0.481 against
0.438 and 0.468. In three runs of the streaming system (``bench.learning``) the
newest version's average scored +0.009, −0.019 and +0.004 against its own
weights: evaluate both.

Environment workers keep acting with the newest weights: PPO's ratio needs the
weights that sampled a move to be the ones it updates. The average is published
beside each version (``averaged/`` in its registry folder) for evaluation and
deployment.

LoRA's product ``B @ A`` is not linear in its factors, so the average of the
factors is not exactly the average of the weight changes; with the small steps
of a learning rate like 5e-4 the two differ by second-order terms.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class WeightAverage:
    """An exponential moving average of ``model``'s trainable parameters, by name."""

    def __init__(
        self, model: nn.Module, decay: float, state: Mapping[str, Tensor] | None = None
    ) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie strictly between 0 and 1, got {decay}")
        self.decay = decay
        self._params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        if not self._params:
            raise ValueError("the model has no trainable parameters to average")
        if state is None:
            self._average = {n: p.detach().clone() for n, p in self._params.items()}
        else:
            if set(state) != set(self._params):
                missing = sorted(set(self._params) - set(state))[:3]
                extra = sorted(set(state) - set(self._params))[:3]
                raise ValueError(
                    f"the saved average does not fit the model: missing {missing}, extra {extra}"
                )
            self._average = {
                n: state[n].detach().to(p.device, p.dtype).clone() for n, p in self._params.items()
            }

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights in: ``average = decay * average + (1 - decay) * weights``."""
        for name, param in self._params.items():
            self._average[name].mul_(self.decay).add_(param.detach(), alpha=1.0 - self.decay)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged weights by parameter name (on the CPU, for a checkpoint)."""
        return {n: t.detach().cpu().clone() for n, t in self._average.items()}

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Within this block the model's trainable parameters hold the average.

        The newest weights are copied back afterwards, bit for bit, whatever happens
        inside (e.g. ``save_pretrained`` of the averaged adapter).
        """
        newest = {n: p.detach().clone() for n, p in self._params.items()}
        try:
            with torch.no_grad():
                for name, param in self._params.items():
                    param.copy_(self._average[name])
            yield
        finally:
            with torch.no_grad():
                for name, param in self._params.items():
                    param.copy_(newest[name])
