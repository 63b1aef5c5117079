"""One episode's event stream as bytes, exactly as the environment worker would publish it.

``rollout`` with ``timed=False`` and a fixed clock; run as a script it prints one
digest over every episode type, for the fresh-interpreter determinism check.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.events import Stamper, encode
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout

FIXED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def stream(episode_type: str, policy: str, seed: int) -> bytes:
    spec = EpisodeSpec(
        episode_type=episode_type, seed=seed, difficulty=0.7, stage=int(episode_type[2])
    )
    stamper = Stamper("env-worker-test", clock=lambda: FIXED)
    actor = ReferenceActor(policy, seed)
    events = rollout(spec, f"ep-{episode_type}-{seed}", actor, stamper, timed=False)
    return b"\n".join(encode(e) for e in events)


if __name__ == "__main__":
    digest = hashlib.sha256()
    for episode_type in EPISODE_TYPES:
        for policy in ("random", "senior"):
            digest.update(stream(episode_type, policy, 42))
    print(digest.hexdigest())
