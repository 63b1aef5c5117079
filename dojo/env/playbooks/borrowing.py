"""E-3.1 playbooks. The senior asks where the change lives, reads that module
(their conventions are in the code, not in old docs), asks how tests run,
writes in their style, tests and opens a review. The junior writes in its home
style in the first module it sees and opens a review."""

from __future__ import annotations

import random
import re

from dojo.env.playbooks.reading import Memory, arg_values, known_with, say, situation
from dojo.env.protocol import Observation


def their_module(obs: Observation) -> str | None:
    for line in known_with(obs, "architecture: "):
        return line.rsplit(" ", 1)[1]
    return None


def conventions(obs: Observation) -> dict[str, str]:
    """Conventions as the code (or a teammate) shows them; docs only as a last resort."""
    lines = (
        known_with(obs, "code in ") + known_with(obs, "conventions (") + known_with(obs, "docs say")
    )
    for line in lines:
        found = dict(re.findall(r"(naming|errors) ([a-z_]+)", line))
        if len(found) == 2:
            return found
    return home(obs)


def home(obs: Observation) -> dict[str, str]:
    text = situation(obs).split("at home you write ", 1)[1]
    return dict(re.findall(r"(naming|errors) ([a-z_]+)", text))


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    module = their_module(obs) or arg_values(obs, "read_code", "module")[0]
    conv = conventions(obs)
    plan = [
        lambda: say(
            "ask_teammate",
            "Which module holds this feature, and what should I read first?",
            topic="architecture",
        ),
        lambda: say("read_code", module=module),
        lambda: say(
            "ask_teammate", "How do you run the tests locally before a review?", topic="build"
        ),
        lambda: say("write_code", "The change itself.", module=module, **conv),
        lambda: say("write_code", "Its test, in their style.", module=module, **conv),
        lambda: say("run_tests"),
    ]
    if step < len(plan):
        return plan[step]()
    return say("open_review", "Small change, tested, in your conventions.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    step = memory.get("step", 0)
    memory["step"] = step + 1
    if step < 2:
        return say("write_code", "", module=arg_values(obs, "write_code", "module")[0], **home(obs))
    return say("open_review", "Done.")
