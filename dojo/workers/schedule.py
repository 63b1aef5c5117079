"""Which episodes an environment worker runs: types by curriculum stage, seeds by worker.

By default the stage's director deals them (:func:`dojo.curriculum.director_specs`:
stable work only in stage 1, then chaos, borrowing, team change in the
proportions of the stage's ``Discrete(6)`` action weights), each action's
episode types dealt more often the weaker the policy is at them
(:mod:`dojo.workers.focus`).

Seeds below ``HELD_OUT_SEED_BASE`` are for training; those at or above it are
kept for evaluation, so no evaluated scenario was ever trained on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from dojo.curriculum import TypeWeights, director_specs
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec


def training_specs(
    stage: int,
    worker_seed: int,
    episode_types: tuple[str, ...] | None = None,
    weights: TypeWeights | None = None,
) -> Iterator[EpisodeSpec]:
    """An endless, reproducible stream of training episode specs for one worker:
    the stage's director's (its types dealt by ``weights``, see
    :mod:`dojo.workers.focus`), or uniform over ``episode_types`` when given."""
    if episode_types is None:
        yield from director_specs(stage, worker_seed, weights)
        return
    rng = random.Random(worker_seed)
    types = episode_types
    while True:
        yield EpisodeSpec(
            episode_type=rng.choice(types),
            seed=rng.randrange(HELD_OUT_SEED_BASE),
            difficulty=round(rng.uniform(0.1, 0.9), 3),
            stage=stage,
        )
