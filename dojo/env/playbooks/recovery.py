"""E-2.2 playbooks. The senior reproduces, reads the error, names a suspect
before touching code, fixes one thing at a time, tells the team, replans in
proportion and writes the post-mortem. The junior reruns the suite hoping it
passes, patches the first cause it can think of and closes the incident."""

from __future__ import annotations

import random

from dojo.env.playbooks.reading import Memory, arg_values, known_with, knows, say, situation
from dojo.env.protocol import Observation

PROPORTIONATE = {"low": "minimal", "medium": "minimal", "high": "moderate", "critical": "major"}


def suspects(obs: Observation) -> list[str]:
    causes = arg_values(obs, "apply_fix", "cause")
    pointers = " ".join(known_with(obs, "error points at"))
    tried = " ".join(known_with(obs, "did not help"))
    return [c for c in causes if c.replace("_", " ") in pointers and c not in tried]


def severity(obs: Observation) -> str:
    text = situation(obs)
    return next(
        (s for s in ("critical", "high", "medium", "low") if f"called it {s}" in text), "medium"
    )


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("ran"):
        memory["ran"] = True
        return say("run_tests")
    if not knows(obs, "error points at"):
        return say("read_error")
    if not knows(obs, "fixed:"):
        if memory.get("retest"):
            memory["retest"] = False
            return say("run_tests")
        candidates = suspects(obs) or arg_values(obs, "apply_fix", "cause")
        suspect = candidates[0]
        if memory.get("suspect") != suspect:
            memory["suspect"] = suspect
            return say("hypothesize", "The error output points here.", cause=suspect)
        memory["retest"] = True
        return say("apply_fix", "One change, at the suspected cause.", cause=suspect)
    fixed = known_with(obs, "fixed: ")[0].removeprefix("fixed: ")
    steps = [
        ("communicate", {"audience": "team"}, "Fixed; cause found; plan update follows."),
        ("replan", {"scope": PROPORTIONATE[severity(obs)]}, "In proportion to the disruption."),
        ("write_postmortem", {"cause": fixed}, "Cause, and the check that stops it coming back."),
    ]
    done = memory.setdefault("done", 0)
    if done < len(steps):
        memory["done"] = done + 1
        name, args, text = steps[done]
        return say(name, text, **args)
    return say("close_incident", "Fixed at the root, plan adjusted, lesson recorded.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    if step == 0:
        return say("run_tests")
    if step in (1, 2):
        return say("retry", "Maybe it was a fluke.")
    if step == 3:
        return say("apply_fix", "", cause=arg_values(obs, "apply_fix", "cause")[0])
    return say("close_incident", "Should be fine now.")
