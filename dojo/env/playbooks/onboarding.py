"""E-4.2 playbooks. The senior checks in, explains exactly what the hire asked
about with real context, repeats until they have no questions, then gives them
a small first task. The junior checks in once, sends the docs for that one
question and hands them a medium task."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, heard, say
from dojo.env.protocol import Observation


def asked_topic(obs: Observation) -> str | None:
    for message in obs.messages:
        if "how does " in message:
            return message.split("how does ", 1)[1].split(" work", 1)[0]
    return None


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    topic = asked_topic(obs)
    if topic is not None:
        return say(
            "explain",
            f"Here is how {topic} works in this codebase, with the one command you need.",
            topic=topic,
        )
    if not heard(obs, "I'm good for now") and not memory.get("settled"):
        return say("check_in", "How is it going, anything unclear?")
    memory["settled"] = True
    if not memory.get("assigned"):
        memory["assigned"] = True
        return say("assign_task", "A small, well-understood first task.", size="small")
    return say("signal_onboarded", "They have what they need.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    topic = asked_topic(obs)
    if step == 0:
        return say("check_in", "All good?")
    if step == 1 and topic is not None:
        return say("point_to_docs", topic=topic)
    if not memory.get("assigned"):
        memory["assigned"] = True
        return say("assign_task", "Jump right in!", size="medium")
    return say("signal_onboarded", "")
