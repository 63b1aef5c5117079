"""The optional agile-agent-team (AAT) backend.

Dojo's own simulator is the default and needs nothing from AAT. When an AAT
checkout is importable (``DOJO_AAT_PATH``), :class:`AATBackend` drives its
``src.rl`` API and translates what it did into Dojo's protocol data and codes::

    backend = AATBackend.load(settings.aat_path, workspace=settings.data_dir / "aat")
    episode = await backend.run_episode(EpisodeSpec(episode_type="E-1.1", seed=7), actor)
    events = list(aat_events(episode, "aat-e11-7", Stamper("aat")))  # dojo.workers.aat_rollout

``actor`` (an environment worker's :class:`~dojo.workers.rollout.Actor`) plays
AAT's candidate; the rest of AAT's team stays its mock.

Importing this package never imports AAT; only :func:`load_aat` does.
"""

from __future__ import annotations

from dojo.env.aat.backend import AATBackend, AATDecision, AATEpisode, AATPhase, translate
from dojo.env.aat.candidate import REPLY, CandidateTurn, PolicyCandidate
from dojo.env.aat.codes import (
    AAT_CODE_MAP,
    AAT_EPISODE_TYPES,
    CANDIDATE_IDLE_TYPES,
    DOJO_EPISODE_TYPES,
    UNMAPPED_AAT_CODES,
    CodeMapping,
    MappedCodes,
    map_code,
    map_codes,
)
from dojo.env.aat.loader import AATUnavailable, aat_unavailable_reason, load_aat

__all__ = [
    "AAT_CODE_MAP",
    "AAT_EPISODE_TYPES",
    "CANDIDATE_IDLE_TYPES",
    "DOJO_EPISODE_TYPES",
    "REPLY",
    "UNMAPPED_AAT_CODES",
    "AATBackend",
    "AATDecision",
    "AATEpisode",
    "AATPhase",
    "AATUnavailable",
    "CandidateTurn",
    "CodeMapping",
    "MappedCodes",
    "PolicyCandidate",
    "aat_unavailable_reason",
    "load_aat",
    "map_code",
    "map_codes",
    "translate",
]
