"""E-1.3 playbooks. The senior reads the module first, builds the core criteria
first, runs the tests after each criterion, reads the error, names the cause
before fixing it, and answers the checkpoint from its evidence. The junior
writes everything in the order listed (and an extra), tests once at the end,
retries on failure and never answers a checkpoint."""

from __future__ import annotations

import random
import re

from dojo.env import story_bank as bank
from dojo.env.playbooks.reading import Memory, heard, known_with, offered, say, situation
from dojo.env.protocol import Observation


def module(obs: Observation) -> str:
    return situation(obs).split("in module ", 1)[1].split(" ", 1)[0]


def criteria(obs: Observation) -> list[tuple[str, bool]]:
    """(criterion id, is core) in the order shown."""
    return [
        (c, kind == "core")
        for c, kind in re.findall(r"(ac\d+) \[(core|supporting)\]", situation(obs))
    ]


PIVOT_SIGNS = ("cannot get there", "the code computes")
ESCALATE_SIGNS = ("only their team", "nobody on the team")


def call_for(evidence: str) -> str:
    """The checkpoint a careful engineer makes on this evidence."""
    if any(sign in evidence for sign in PIVOT_SIGNS):
        return "checkpoint_pivot"
    if any(sign in evidence for sign in ESCALATE_SIGNS):
        return "checkpoint_escalate"
    return "checkpoint_continue"


def checkpoint_call(obs: Observation) -> str:
    return call_for(" ".join(known_with(obs, "checkpoint evidence")))


def cause_from(obs: Observation) -> str:
    pointers = " ".join(known_with(obs, "error points at"))
    return next(
        (cause for cause, (_, hint) in bank.FAILURES.items() if hint in pointers), "null_handling"
    )


def _track_tests(obs: Observation, memory: Memory) -> None:
    if heard(obs, "1 test fails"):
        memory["red"] = True
    elif heard(obs, "All tests pass"):
        memory["red"] = False


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    _track_tests(obs, memory)
    mod = module(obs)
    if "writes" not in memory:
        ordered = sorted(criteria(obs), key=lambda c: not c[1])
        memory["writes"] = [c for c, _ in ordered for _ in range(2)]
        memory["read"] = False
    writes = memory["writes"]
    if offered(obs, "checkpoint_continue"):
        return say(checkpoint_call(obs), "Deciding from the evidence in hand.")
    if not memory["read"]:
        memory["read"] = True
        return say("read_file", file=mod)
    if memory.get("red"):
        step = memory.get("debug", 0)
        memory["debug"] = step + 1
        if step == 0:
            return say("read_error")
        if step == 1:
            return say("hypothesize", "The trace points here.", cause=cause_from(obs))
        memory["debug"] = 0
        memory["red"] = None
        memory["retest"] = True
        return say("apply_fix", "One change at the cause.", fix=cause_from(obs))
    if memory.pop("retest", False) or memory.pop("test_now", False):
        return say("run_tests")
    if writes:
        target = writes.pop(0)
        if not writes or writes[0] != target:
            memory["test_now"] = True
        return say("write_code", f"Implement {target}.", target=target, file=mod)
    return say("commit", "All criteria done and tests green.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    _track_tests(obs, memory)
    if "writes" not in memory:
        order = [c for c, _ in criteria(obs)]
        memory["writes"] = [order[0], order[0], "x1", *(c for c in order[1:] for _ in range(2))]
    writes = memory["writes"]
    if writes:
        return say("write_code", "", target=writes.pop(0), file=module(obs))
    if "tested" not in memory:
        memory["tested"] = True
        return say("run_tests")
    if memory.get("red") and not memory.get("patched"):
        memory["patched"] = True
        return say("apply_fix", "Just retry it.", fix="retry_on_failure")
    return say("commit", "Done.")
