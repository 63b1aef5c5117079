"""Replaying history: re-scoring stored decisions under a new reward (and judge) version.

See :mod:`dojo.replay.run` for what a replay does and how its rows reach the
store, :mod:`dojo.replay.rescore` for the vectorised reward computation.
"""

from dojo.replay.history import ReplayFilter
from dojo.replay.run import ReplayOptions, ReplayReport, StoreBusy
from dojo.replay.run import replay as run_replay

__all__ = ["ReplayFilter", "ReplayOptions", "ReplayReport", "StoreBusy", "run_replay"]
