"""Deal more of what the policy is worst at: episode-type weights from the learner's returns.

The director decides what the team faces (a calm sprint, a disturbance, a
departure); among the episode types one of its actions offers, some are far
slower to learn than others. In stage 1 a research episode (E-1.5) is three
decisions long and pays only for a chain — search, read a current source,
answer from it, stop — that an exploring policy rarely plays through; early on
it learns to stop at once (a safe 0.1), and dealt a fifth of the episodes (a
fourteenth of the learner's decisions) it stays there for thousands of
episodes while the other types climb. Dealt more of it, it finds the chain.

So each policy version the learner publishes carries its running mean return
per episode type (the value table's estimate at the first decision, see
:mod:`dojo.training.advantages`), and an environment worker that follows the
learner deals the types of a director action with

    p(type) = (1 - focus) / n  +  focus * softmax(-return(type) / temperature)

``focus`` (``DOJO_ENV_FOCUS``) is the share dealt by weakness; the rest stays
uniform, so no type is ever starved, and a type that catches up stops being
favoured. A type without a published return (a new stage's) counts as the
weakest known: it needs the data most. Before the first version, for scripted
policies and for an explicit ``DOJO_ENV_EPISODE_TYPES``, dealing is uniform.

Returns are compared as they are: a type whose best possible return is lower
(the scripted senior scores 0.73 in E-1.4, 1.03 in E-1.2) is dealt more even once
mastered. Measuring weakness against a per-type reference would remove that;
the focus share bounds what it costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def focus_weights(
    types: Sequence[str], returns: Mapping[str, float], focus: float, temperature: float
) -> list[float]:
    """Probabilities of dealing each of ``types`` (they sum to 1)."""
    if not 0.0 <= focus <= 1.0:
        raise ValueError(f"focus must be within [0, 1], got {focus}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = len(types)
    known = [returns[t] for t in types if t in returns]
    if focus == 0.0 or not known:
        return [1.0 / n] * n
    weakest = min(known)
    values = [returns.get(t, weakest) for t in types]
    # shifted by the minimum: the weakest type's term is exp(0), nothing overflows
    tilts = [math.exp(-(v - weakest) / temperature) for v in values]
    total = sum(tilts)
    return [(1.0 - focus) / n + focus * tilt / total for tilt in tilts]
