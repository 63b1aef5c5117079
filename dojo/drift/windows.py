"""Event-time window arithmetic.

Time is cut into panes of ``pane_s`` (the size of a tumbling window, the step
of a hopping one); window ``w`` is panes ``w .. w + panes − 1``, i.e.
``[w·pane_s, w·pane_s + size_s)``. Pairs are stored once, per pane, however
many hopping windows contain them.
"""

from __future__ import annotations

import math

from dojo.drift.config import WindowConfig


def pane_of(timestamp: float, config: WindowConfig) -> int:
    # Rounding first keeps a time exactly on an edge (0.3 / 0.1) in the pane it starts.
    return math.floor(round(timestamp / config.pane_s, 9))


def window_bounds(index: int, config: WindowConfig) -> tuple[float, float]:
    start = index * config.pane_s
    return start, start + config.size_s


def windows_of(timestamp: float, config: WindowConfig) -> range:
    """Indices of every window that contains ``timestamp``."""
    pane = pane_of(timestamp, config)
    return range(pane - config.panes + 1, pane + 1)


def first_open_window(limit: float, config: WindowConfig) -> int:
    """The first window whose end lies beyond ``limit`` (all earlier ones may close)."""
    return pane_of(limit, config) - config.panes + 1
