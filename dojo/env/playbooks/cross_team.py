"""E-3.2 playbooks. The senior inspects every neighbour, declares and asks each
real one, raises each late one before the plan closes. The junior declares the
first team it sees as an API dependency and signals."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, arg_values, known_with, say
from dojo.env.protocol import Observation

KINDS = {
    "calls their api": "api",
    "reads their data": "data",
    "ships with their release": "release",
}


def links(obs: Observation) -> dict[str, str]:
    """team -> dependency kind, for every link an inspection found."""
    found = {}
    for line in known_with(obs, "link ("):
        team = line[len("link (") : line.index(")")]
        found[team] = next((k for words, k in KINDS.items() if words in line.lower()), "api")
    return found


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    teams = arg_values(obs, "inspect", "team")
    if "queue" not in memory:
        memory["queue"] = [("inspect", t) for t in teams]
    queue = memory["queue"]
    if not queue and not memory.get("followed_up"):
        memory["followed_up"] = True
        for team in links(obs):
            queue += [("declare_dependency", team), ("ask_team", team)]
    if queue:
        name, team = queue.pop(0)
        if name == "declare_dependency":
            return say(name, "On the story's path.", team=team, kind=links(obs)[team])
        if name == "ask_team":
            return say(
                name, "When does your part land, and can we see the interface early?", team=team
            )
        return say(name, team=team)
    late = [
        line.split(" delivers")[0] for line in known_with(obs, "") if "after you need it" in line
    ]
    for team in late:
        if team not in memory.setdefault("raised", []):
            memory["raised"].append(team)
            return say(
                "raise_blocker", "Their date is after ours; we need to resequence.", team=team
            )
    return say("signal_plan_complete", "Every dependency declared; late ones raised.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("declared"):
        memory["declared"] = True
        return say("declare_dependency", "", team=arg_values(obs, "inspect", "team")[0], kind="api")
    return say("signal_plan_complete", "")
