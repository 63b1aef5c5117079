"""Calibration drift: is the judge still agreeing with the heuristics?

Pure, incremental statistics over event-time windows per behaviour and episode
type, with alerts when a threshold trips. No Kafka here: the Faust wiring
feeds :class:`GroupDetector` and keeps its JSON state in a table.

The names below are loaded on first use: :mod:`dojo.config` reads the
calibrated thresholds from :mod:`dojo.drift.config`, and every process that
reads its settings should not pay for the detector as well.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dojo.drift.config import DriftConfig, WindowConfig
    from dojo.drift.detector import (
        Calibration,
        CalibrationState,
        DriftDetector,
        GroupDetector,
        GroupState,
        ReferenceSummary,
        group_key,
    )
    from dojo.drift.models import Check, DriftAlert, DriftEvent, DriftWindow, GroupKey, ScorePair
    from dojo.drift.page_hinkley import PageHinkley

__all__ = [
    "Calibration",
    "CalibrationState",
    "Check",
    "DriftAlert",
    "DriftConfig",
    "DriftDetector",
    "DriftEvent",
    "DriftWindow",
    "GroupDetector",
    "GroupKey",
    "GroupState",
    "PageHinkley",
    "ReferenceSummary",
    "ScorePair",
    "WindowConfig",
    "group_key",
]

_SUBMODULES = ("config", "detector", "models", "page_hinkley")


def __getattr__(name: str) -> object:
    if name in __all__:
        for submodule in _SUBMODULES:
            module = importlib.import_module(f"{__name__}.{submodule}")
            if name in vars(module):
                globals()[name] = value = vars(module)[name]
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
