"""The 13 episode types of SPEC §4, one module each, and the registry that builds them."""

from __future__ import annotations

from dojo.env.episodes.base import BaseEpisode
from dojo.env.episodes.borrowing import BorrowingEpisode
from dojo.env.episodes.compensation import CompensationEpisode
from dojo.env.episodes.cross_team import CrossTeamEpisode
from dojo.env.episodes.decomposition import DecompositionEpisode
from dojo.env.episodes.elicitation import ElicitationEpisode
from dojo.env.episodes.handoff import HandoffEpisode
from dojo.env.episodes.implementation import ImplementationEpisode
from dojo.env.episodes.onboarding import OnboardingEpisode
from dojo.env.episodes.recovery import RecoveryEpisode
from dojo.env.episodes.research import ResearchEpisode
from dojo.env.episodes.scope_change import ScopeChangeEpisode
from dojo.env.episodes.self_monitoring import SelfMonitoringEpisode
from dojo.env.episodes.triage import TriageEpisode

EPISODE_CLASSES: dict[str, type[BaseEpisode]] = {
    cls.episode_type: cls
    for cls in (
        ElicitationEpisode,
        DecompositionEpisode,
        ImplementationEpisode,
        SelfMonitoringEpisode,
        ResearchEpisode,
        TriageEpisode,
        RecoveryEpisode,
        ScopeChangeEpisode,
        BorrowingEpisode,
        CrossTeamEpisode,
        HandoffEpisode,
        OnboardingEpisode,
        CompensationEpisode,
    )
}

__all__ = ["EPISODE_CLASSES", "BaseEpisode"]
