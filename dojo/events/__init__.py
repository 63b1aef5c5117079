"""Dojo's events: one envelope, one pydantic model per event type, versioned schemas."""

from dojo.events.codec import EVENT_TYPES, AnyEvent, DecodeError, decode, encode
from dojo.events.envelope import Event, Stamper, derive_event_id, utc_now
from dojo.events.models import (
    DeadLetter,
    DecisionMade,
    DecisionRewarded,
    DriftAlert,
    DriftWindow,
    EpisodeCompleted,
    EpisodeStarted,
    EvalReport,
    JudgeFailed,
    JudgeVerdict,
    PhaseCompleted,
    PhaseStarted,
    PolicyVersionPublished,
    ScoredDecision,
    TrajectoryScored,
)

__all__ = [
    "EVENT_TYPES",
    "AnyEvent",
    "DeadLetter",
    "DecisionMade",
    "DecisionRewarded",
    "DecodeError",
    "DriftAlert",
    "DriftWindow",
    "EpisodeCompleted",
    "EpisodeStarted",
    "EvalReport",
    "Event",
    "JudgeFailed",
    "JudgeVerdict",
    "PhaseCompleted",
    "PhaseStarted",
    "PolicyVersionPublished",
    "ScoredDecision",
    "Stamper",
    "TrajectoryScored",
    "decode",
    "derive_event_id",
    "encode",
    "utc_now",
]
