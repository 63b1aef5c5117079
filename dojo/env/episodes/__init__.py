"""The 13 episode types of SPEC §4, one module each; :mod:`dojo.env.registry` names them."""

from __future__ import annotations

from collections.abc import Mapping

from dojo.env import registry
from dojo.env.episodes.base import BaseEpisode

#: code -> episode class, read from the registry (so it holds registered types too)
EPISODE_CLASSES: Mapping[str, type[BaseEpisode]] = registry.column(lambda t: t.episode_class)

__all__ = ["EPISODE_CLASSES", "BaseEpisode"]
