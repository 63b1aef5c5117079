"""E-2.3 playbooks. The senior asks how big the request is and who is waiting for
it, calls the disruption, proposes the proportionate deal and replan, tells the
product owner. The junior asks how big it is and says yes unless it is huge."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, known_with, say
from dojo.env.protocol import Observation

SIZE = {"touches 1 ": "small", "touches 3 ": "medium", "touches 6 ": "large"}
IMPACT = {"small": "low", "medium": "medium", "large": "high"}
REPLAN = {"accept": "minimal", "swap": "moderate", "split": "moderate", "defer": "minimal"}


def size(obs: Observation) -> str:
    line = " ".join(known_with(obs, "size: "))
    return next((v for sign, v in SIZE.items() if sign in line), "medium")


def option(obs: Observation) -> str:
    s = size(obs)
    urgent = any("needs it this sprint" in k for k in known_with(obs, "urgency: "))
    if s == "small":
        return "accept"
    if s == "medium":
        return "swap"
    return "split" if urgent else "defer"


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    plan = [
        lambda: say("ask_question", "How much of the system does it touch?", dimension="scope"),
        lambda: say("ask_question", "Who is waiting for it, and by when?", dimension="users"),
        lambda: say("assess_severity", "From its size.", level=IMPACT[size(obs)]),
        lambda: say("negotiate", "In proportion to size and urgency.", option=option(obs)),
        lambda: say("propose_replan", "Only what the deal needs.", scope=REPLAN[option(obs)]),
        lambda: say(
            "communicate", "Here is what changes and what does not.", audience="product_owner"
        ),
    ]
    if step < len(plan):
        return plan[step]()
    return say("signal_ready", "Plan agreed.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    if step == 0:
        return say("ask_question", "How big is it?", dimension="scope")
    if step == 1:
        return say(
            "negotiate",
            "Sure, we'll fit it in.",
            option="defer" if size(obs) == "large" else "accept",
        )
    return say("signal_ready", "")
