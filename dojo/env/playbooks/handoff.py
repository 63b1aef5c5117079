"""E-4.1 playbooks. The senior looks at what the upcoming work needs, checks which
of it is written down, pairs on each critical topic, records why the critical
item is built as it is and hands it over. The junior writes pages on the first
topics that come to mind and leaves."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, arg_values, known_with, knows, say
from dojo.env.protocol import Observation


def critical_topics(obs: Observation) -> list[str]:
    for line in known_with(obs, "upcoming work leans on: "):
        return line.removeprefix("upcoming work leans on: ").split(", ")
    return []


def critical_item(obs: Observation) -> str:
    for line in known_with(obs, "the release depends on: "):
        return line.removeprefix("the release depends on: ")
    return arg_values(obs, "hand_over", "item")[0]


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not knows(obs, "upcoming work leans on"):
        return say("review_backlog")
    if "queue" not in memory:
        item = critical_item(obs)
        queue: list[tuple[str, str, dict[str, str]]] = []
        for topic in critical_topics(obs):
            queue.append(("pair_session", "", {"topic": topic}))
        queue.append(
            ("record_decision", "Why it is built this way, and what we rejected.", {"item": item})
        )
        queue.append(
            ("hand_over", "You own this now; the decision record explains it.", {"item": item})
        )
        memory["queue"] = queue
    queue = memory["queue"]
    if queue:
        name, text, args = queue.pop(0)
        return say(name, text, **args)
    return say(
        "signal_handoff_complete", "Critical knowledge paired, decisions recorded, work owned."
    )


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    topics = arg_values(obs, "document", "topic")
    if step < 2:
        return say("document", "Some notes.", topic=topics[step])
    return say("signal_handoff_complete", "Bye!")
