"""Which episodes an environment worker runs: types by curriculum stage, seeds by worker.

Seeds below ``HELD_OUT_SEED_BASE`` are for training; those at or above it are
kept for evaluation, so no evaluated scenario was ever trained on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from dojo.env.protocol import EPISODE_TYPES, HELD_OUT_SEED_BASE, EpisodeSpec

STAGE_EPISODE_TYPES: dict[int, tuple[str, ...]] = {
    stage: tuple(t for t in EPISODE_TYPES if int(t[2]) <= stage) for stage in (1, 2, 3, 4)
}


def training_specs(
    stage: int, worker_seed: int, episode_types: tuple[str, ...] | None = None
) -> Iterator[EpisodeSpec]:
    """An endless, reproducible stream of training episode specs for one worker."""
    rng = random.Random(worker_seed)
    types = episode_types or STAGE_EPISODE_TYPES[stage]
    while True:
        yield EpisodeSpec(
            episode_type=rng.choice(types),
            seed=rng.randrange(HELD_OUT_SEED_BASE),
            difficulty=round(rng.uniform(0.1, 0.9), 3),
            stage=stage,
        )
