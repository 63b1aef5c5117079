"""E-1.1 playbooks. The senior reads every cue in the story, asks about each,
closes with "anything else?", states one assumption for the rest, then signals.
The junior asks about the first two things it notices and signals."""

from __future__ import annotations

import random

from dojo.env import story_bank as bank
from dojo.env.playbooks.reading import Memory, knows, say, situation
from dojo.env.protocol import Observation

QUESTIONS = {
    "scope": "What is explicitly out of scope for the first version?",
    "users": "Which users exactly need this, and which do not?",
    "acceptance": "How will we know it is done; what will you check?",
    "other": "Is there anything else we must respect that the ticket does not say?",
}


def cues(obs: Observation) -> list[str]:
    """Dimensions the story's wording points at, ambiguities first."""
    text = situation(obs)
    vague = [d for d, (_, key) in bank.VAGUE_PHRASES.items() if key in text]
    hinted = [c for c, (_, key) in bank.CONSTRAINT_CUES.items() if key in text]
    return vague + hinted


def _question(dim: str) -> str:
    return QUESTIONS.get(dim, f"Are there any {dim} requirements we must meet?")


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    plan = memory.setdefault("plan", list(dict.fromkeys(["scope", *cues(obs)])))
    if plan:
        dim = plan.pop(0)
        return say("ask_question", _question(dim), dimension=dim)
    if not knows(obs, "nothing else"):
        return say("ask_question", _question("other"), dimension="other")
    if not memory.get("assumed"):
        memory["assumed"] = True
        asked = set(cues(obs)) | {"scope"}
        rest = [c for c in bank.CONSTRAINT_CATEGORIES if c not in asked]
        if rest:
            dim = rest[0]
            return say(
                "state_assumption", f"I will assume {dim} needs nothing special.", dimension=dim
            )
    return say("signal_ready", "Scope, constraints and done are clear; ready to plan.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    plan = memory.setdefault("plan", (cues(obs) or ["scope"])[:2])
    if plan:
        dim = plan.pop(0)
        return say("ask_question", _question(dim), dimension=dim)
    return say("signal_ready", "Got it, starting now.")
