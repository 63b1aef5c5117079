"""E-1.5 playbooks. The senior searches the exact topic (the web and our code),
reads the most authoritative recent source first, answers only from a source
that states the answer, says how sure it is, and stops. The junior reads the
first result and builds on it."""

from __future__ import annotations

import random
import re

from dojo.env import story_bank as bank
from dojo.env.playbooks.reading import Memory, known_with, say, situation
from dojo.env.protocol import Observation

AUTHORITY = {label: authority for label, authority in bank.SOURCE_KINDS.values()}
RECENT = 2022


def topic(obs: Observation) -> str:
    text = situation(obs)
    return next((t for t in bank.RESEARCH_TOPICS if t.replace("_", " ") in text), "general")


def listed(obs: Observation) -> list[tuple[str, str, int, str]]:
    """(id, label, year, topic) of every source a search listed."""
    rows = []
    for line in known_with(obs, "found "):
        m = re.match(r"found (s\d): (.+) \((\d{4})\), on (.+)$", line)
        if m:
            rows.append((m[1], m[2], int(m[3]), m[4].replace(" ", "_")))
    return rows


def read(obs: Observation) -> dict[str, str]:
    return {line[5:7]: line for line in known_with(obs, "read s")}


def senior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    gap = topic(obs)
    if not memory.get("searched"):
        memory["searched"] = True
        return say("search", f"{gap} behaviour in the v3 API", query=gap)
    if not memory.get("code_searched"):
        memory["code_searched"] = True
        return say("search_code", "Do we already do this somewhere?", topic=gap)
    contents = read(obs)
    good = [sid for sid, line in contents.items() if "states exactly" in line]
    if good and not memory.get("synthesized"):
        memory["synthesized"] = True
        return say("synthesize", "From the current authoritative source.", source=good[0])
    if not good:
        candidates = sorted(
            (s for s in listed(obs) if s[3] == gap and s[0] not in contents),
            key=lambda s: (s[2] >= RECENT, AUTHORITY.get(s[1], 0.0), s[2]),
            reverse=True,
        )
        if candidates:
            return say("fetch_doc", "Reading the best remaining source.", source=candidates[0][0])
    if not memory.get("confident"):
        memory["confident"] = True
        return say(
            "assess_confidence",
            "The source is current and official.",
            level="high" if good else "low",
        )
    return say("signal_sufficient", "Enough to build.")


def junior(obs: Observation, memory: Memory, rng: random.Random) -> str:
    if not memory.get("searched"):
        memory["searched"] = True
        return say("search", "", query=topic(obs))
    first = listed(obs)[0][0] if listed(obs) else "s1"
    if not memory.get("fetched"):
        memory["fetched"] = True
        return say("fetch_doc", "", source=first)
    if not memory.get("synthesized"):
        memory["synthesized"] = True
        return say("synthesize", "", source=first)
    return say("signal_sufficient", "Good enough.")
