"""Surface features of free text that the offline judge's rules read.

These are proxies a reader would check first — does the text name concrete
things, is it a stock phrase, does it repeat an earlier question — not an
understanding of the text.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[A-Za-z0-9_./:`'\"-]+")
_CAMEL = re.compile(r"[a-z][A-Z]")
_CONTENT_WORD = re.compile(r"[a-z0-9_]{4,}")

GENERIC_PHRASES: tuple[str, ...] = (
    r"any (other )?(questions|requirements|constraints|details)",
    r"anything else",
    r"(can|could) you (please )?(clarify|elaborate|explain)( more| further)?\??$",
    r"(more|further) (details|information|context)",
    r"tell me more",
    r"what are the requirements",
    r"best practices?",
    r"what do you think",
    r"is there anything",
    r"let me know",
)
_GENERIC = re.compile("|".join(GENERIC_PHRASES), re.IGNORECASE)


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def concreteness(text: str) -> float:
    """Share of the way to two concrete references (numbers, identifiers, paths, quotes)."""
    concrete = sum(
        1
        for w in words(text)
        if any(ch.isdigit() for ch in w)
        or any(mark in w for mark in ("_", "/", "::", "`", '"', "'"))
        or ("." in w.strip(".") and len(w) > 3)
        or _CAMEL.search(w)
    )
    return min(1.0, concrete / 2)


def length_fit(text: str) -> float:
    """1 for a focused 8–60 words; less for a fragment or a ramble."""
    n = len(words(text))
    if n < 4:
        return 0.0
    if n < 8:
        return (n - 3) / 5
    if n <= 60:
        return 1.0
    return max(0.5, 1.0 - (n - 60) / 120)


def specificity(text: str) -> float:
    """Concrete and focused text scores high; a vague fragment scores low."""
    return 0.5 * concreteness(text) + 0.5 * length_fit(text)


def is_generic(text: str) -> bool:
    """A stock phrase that would fit any task, with nothing concrete around it."""
    return bool(_GENERIC.search(text)) and concreteness(text) == 0.0 and len(words(text)) < 15


def content_words(text: str) -> set[str]:
    return set(_CONTENT_WORD.findall(text.lower()))


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the content words of two texts."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def matches_any(text: str, patterns: tuple[str, ...]) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)
