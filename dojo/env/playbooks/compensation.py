"""E-4.3 playbooks. The senior looks at every item the leaver had open, calls the
severity, takes the one the release depends on, asks for help only on what it
does not know, replans in proportion and tells the team. The junior picks up
the first item on the list and carries on."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, arg_values, known_with, say, situation
from dojo.env.protocol import Observation


def skills(obs: Observation) -> list[str]:
    text = situation(obs).split("you know ", 1)[1]
    return text.removesuffix(" well.").split(", ")


def critical(obs: Observation) -> tuple[str, str] | None:
    """(item, topic it needs) of the item the release depends on, once seen."""
    for line in known_with(obs, ""):
        if "the release depends on it" in line:
            return line.split(":", 1)[0], line.rsplit("needs ", 1)[1]
    return None


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    items = arg_values(obs, "assess_progress", "item")
    if "queue" not in memory:
        memory["queue"] = list(items)
    queue = memory["queue"]
    if queue:
        return say("assess_progress", item=queue.pop(0))
    item, topic = critical(obs) or (items[0], "")
    lacking = topic not in skills(obs)
    plan = [
        (
            "assess_severity",
            "From what their items need.",
            {"level": "high" if lacking else "medium"},
        ),
        ("take_over", "The release depends on it.", {"item": item}),
        *(
            [
                (
                    "ask_help",
                    f"I have not worked with {topic}; can someone pair with me?",
                    {"topic": topic},
                )
            ]
            if lacking
            else []
        ),
        ("replan", "In proportion to what we lost.", {"scope": "major" if lacking else "moderate"}),
        ("communicate", "Who owns what now, and what slips.", {"audience": "team"}),
    ]
    done = memory.setdefault("done", 0)
    if done < len(plan):
        memory["done"] = done + 1
        name, text, args = plan[done]
        return say(name, text, **args)
    return say("signal_plan_complete", "Critical work owned, help arranged, plan adjusted.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("taken"):
        memory["taken"] = True
        return say("take_over", "I'll take it.", item=arg_values(obs, "take_over", "item")[0])
    return say("signal_plan_complete", "")
