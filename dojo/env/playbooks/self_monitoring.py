"""E-1.4 playbooks. The senior looks everywhere an issue could hide, names what it
found, reports progress and confidence honestly, then makes the call the
evidence supports. The junior runs the tests and goes with whatever they say; a wrong requirement
or a knowledge gap gets past it."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, known_with, say
from dojo.env.protocol import Observation

# words in the evidence -> the issue they reveal
SIGNS = {
    "cannot get there": "approach_dead_end",
    "the code computes": "requirement_mismatch",
    "nobody on the team": "missing_knowledge",
    "only their team": "blocked_externally",
}
PROGRESS = {"none": "on_track", "blocked_externally": "blocked"}
CALL = {
    "none": "checkpoint_continue",
    "approach_dead_end": "checkpoint_pivot",
    "requirement_mismatch": "checkpoint_pivot",
    "missing_knowledge": "checkpoint_escalate",
    "blocked_externally": "checkpoint_escalate",
}
LOOKS = ("check_progress", "run_checks", "reread_requirements", "research")


def issue_found(obs: Observation) -> str:
    evidence = " ".join(known_with(obs, "evidence: "))
    return next((issue for sign, issue in SIGNS.items() if sign in evidence), "none")


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    if step < len(LOOKS):
        return say(
            LOOKS[step], "What does the remaining work need?" if LOOKS[step] == "research" else ""
        )
    issue = issue_found(obs)
    if step == len(LOOKS):
        return say("identify_issue", "From what I found.", kind=issue)
    if step == len(LOOKS) + 1:
        return say("assess_progress", "Honestly.", estimate=PROGRESS.get(issue, "behind"))
    if step == len(LOOKS) + 2:
        return say("assess_confidence", "I checked every angle.", level="high")
    return say(CALL[issue], "The evidence supports this.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("ran"):
        memory["ran"] = True
        return say("run_checks")
    return say(CALL[issue_found(obs)], "Going with what the tests say.")
