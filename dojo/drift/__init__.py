"""Calibration drift: is the judge still agreeing with the heuristics?

Pure, incremental statistics over event-time windows per behaviour and episode
type, with alerts when a threshold trips. No Kafka here: the Faust wiring
feeds :class:`GroupDetector` and keeps its JSON state in a table.
"""

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
