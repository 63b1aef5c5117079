"""Scripted junior and senior play per episode type (see :mod:`dojo.env.reference`)."""

from __future__ import annotations

from types import ModuleType

from dojo.env.playbooks import (
    borrowing,
    compensation,
    cross_team,
    decomposition,
    elicitation,
    handoff,
    implementation,
    onboarding,
    recovery,
    research,
    scope_change,
    self_monitoring,
    triage,
)

PLAYBOOKS: dict[str, ModuleType] = {
    "E-1.1": elicitation,
    "E-1.2": decomposition,
    "E-1.3": implementation,
    "E-1.4": self_monitoring,
    "E-1.5": research,
    "E-2.1": triage,
    "E-2.2": recovery,
    "E-2.3": scope_change,
    "E-3.1": borrowing,
    "E-3.2": cross_team,
    "E-4.1": handoff,
    "E-4.2": onboarding,
    "E-4.3": compensation,
}
