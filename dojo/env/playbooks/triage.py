"""E-2.1 playbooks. The senior looks at the metrics and the logs, calls severity
and blast radius from what it saw, tells whoever needs to know, then responds in
proportion. The junior glances at the metrics and fixes or defers by severity
alone: it never asks whose code it is and tells nobody."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, known_with, say
from dojo.env.protocol import Observation

SEVERITY_SIGNS = {
    "no customer noticed": "low",
    "a workaround exists": "medium",
    "support tickets": "high",
    "revenue is at stake": "critical",
}
RADIUS_SIGNS = {
    "only this module": "local",
    "everything this team ships": "team",
    "another team's service": "cross_team",
    "customer-facing": "customer",
}


def read_signs(obs: Observation, signs: dict[str, str], default: str) -> str:
    seen = " ".join(obs.known)
    return next((v for sign, v in signs.items() if sign in seen), default)


def theirs(obs: Observation) -> bool:
    return any("goes into team" in k for k in known_with(obs, "logs: "))


def response(obs: Observation) -> str:
    if theirs(obs):
        return "respond_escalate"
    if read_signs(obs, SEVERITY_SIGNS, "medium") in ("high", "critical"):
        return "respond_fix_now"
    return "respond_defer"


def audience(obs: Observation) -> str:
    if theirs(obs):
        return "other_team"
    if read_signs(obs, RADIUS_SIGNS, "team") == "customer":
        return "stakeholders"
    return "team"


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    plan = [
        lambda: say("investigate", aspect="metrics"),
        lambda: say("investigate", aspect="logs"),
        lambda: say(
            "assess_severity", "From the metrics.", level=read_signs(obs, SEVERITY_SIGNS, "medium")
        ),
        lambda: say(
            "assess_blast_radius", "From the logs.", scope=read_signs(obs, RADIUS_SIGNS, "team")
        ),
        lambda: say(
            "communicate",
            "What we see, what we do next, when you hear from us.",
            audience=audience(obs),
        ),
    ]
    if step < len(plan):
        return plan[step]()
    return say(response(obs), "In proportion to what we found.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("looked"):
        memory["looked"] = True
        return say("investigate", aspect="metrics")
    severe = read_signs(obs, SEVERITY_SIGNS, "medium") in ("high", "critical")
    return say("respond_fix_now" if severe else "respond_defer", "On it!")
