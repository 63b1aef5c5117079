"""E-1.2 playbooks. The senior probes what looks risky, puts all approaches on the
table and compares them, plans the risky task first and names the dependencies
it knows from experience. The junior lists every component in the order shown,
takes the first approach and signals."""

from __future__ import annotations

import random
import re

from dojo.env import story_bank as bank
from dojo.env.playbooks.reading import Memory, arg_values, known_with, knows, say, situation
from dojo.env.protocol import Observation

ALARMING = {alarming for _, _, plain, alarming in bank.COMPONENTS.values() if alarming != plain}
RISKY_BY_NATURE = ("external_client", "migration", "file_import", "background_job", "caching")
NICE = "nice to have"


def components(obs: Observation) -> dict[str, str]:
    """component -> the note shown next to it."""
    text = situation(obs)
    start = text.find("components on the table: ")
    listing = text[start + len("components on the table: ") : text.find(". approaches:", start)]
    return dict(re.findall(r"([a-z_]+) \(([^)]*)\)", listing))


def subject(fact: str) -> str:
    """What a fact is about: ``spike (caching): …`` and ``sound (new_service): …`` name it
    in parentheses."""
    return fact.split("(")[1].split(")")[0]


def build_order(needed: list[str], first: str | None) -> list[str]:
    """Topological order by the usual dependency rules, ``first`` pulled to the front."""
    order: list[str] = [first] if first in needed else []
    remaining = [c for c in needed if c not in order]
    while remaining:
        ready = [
            c
            for c in remaining
            if not any(b in remaining and a == c for b, a, _ in bank.DEPENDENCY_RULES)
        ]
        pick = (ready or remaining)[0]
        order.append(pick)
        remaining.remove(pick)
    return order


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if "needed" not in memory:
        notes = components(obs)
        needed = [c for c, note in notes.items() if NICE not in note]
        loud = [c for c in needed if notes[c] in ALARMING]
        memory["needed"] = needed
        memory["to_spike"] = (loud or [c for c in RISKY_BY_NATURE if c in needed] or needed)[:2]
    needed = memory["needed"]
    to_spike = memory["to_spike"]
    confirmed = [subject(k) for k in known_with(obs, "spike (") if "high risk" in k]
    if not confirmed and to_spike:
        return say("spike", "Probe whether this is the hard part.", component=to_spike.pop(0))
    risky = confirmed[0] if confirmed else memory.get("risky_guess", needed[0])
    if not memory.get("risk_named"):
        memory["risk_named"] = True
        return say("identify_risk", "This is where the sprint can fail.", component=str(risky))
    approaches = arg_values(obs, "propose_approach", "approach")
    proposed = [k.split(": ")[1] for k in known_with(obs, "proposed: ")]
    for a in approaches:
        if a not in proposed:
            return say("propose_approach", f"Option: {a}.", approach=a)
    if not knows(obs, "flaw (") and not knows(obs, "sound ("):
        return say("compare_approaches", "Which of these survives our constraints?")
    if not knows(obs, "chosen approach"):
        clean = [subject(k) for k in known_with(obs, "sound (")]
        return say(
            "choose_approach",
            "It has no known blocker.",
            approach=clean[0] if clean else approaches[0],
        )
    order = memory.setdefault("order", build_order(needed, str(risky)))
    if order:
        return say("create_task", "", component=order.pop(0))
    deps = memory.setdefault(
        "deps", [(a, b, k) for b, a, k in bank.DEPENDENCY_RULES if a in needed and b in needed]
    )
    if deps:
        task, needs, kind = deps.pop(0)
        return say("add_dependency", "", task=task, needs=needs, kind=kind)
    return say("signal_plan_complete", "Risk first, dependencies named, approach chosen.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    order = memory.setdefault("order", list(components(obs)))
    if order:
        return say("create_task", "", component=order.pop(0))
    if not memory.get("chosen"):
        memory["chosen"] = True
        return say(
            "choose_approach",
            "Let's go.",
            approach=arg_values(obs, "choose_approach", "approach")[0],
        )
    return say("signal_plan_complete", "Done planning.")
