"""The brief: what a chat session established, as a Markdown document.

Every section is always there (``_None._`` when empty), in this order:
:data:`SECTIONS`. The brief is written from the session's notes alone, so it can
be written at any point — after a Ctrl-C too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dojo.chat.notes import CHAT_PHASES, SessionNotes

#: the headings, in order; risks and dependencies belong to the plan
SECTIONS: tuple[str, ...] = (
    "## Task",
    "## Clarified scope and constraints",
    "## Confirmed assumptions",
    "## Open questions",
    "## Research notes",
    "## Task plan",
    "### Risks",
    "### Dependencies",
)
NONE = "_None._"


def _md(text: str) -> str:
    """One line of developer or model text, safe inside a Markdown list item."""
    return " ".join(text.split()).replace("|", "\\|")


def render_brief(notes: SessionNotes) -> str:
    title = _md(notes.task)[:80] or "untitled task"
    if notes.finished:
        status = "complete"
    else:
        status = (
            f"stopped during {notes.phase or 'the last phase'} (dojo chat --resume continues it)"
        )
    lines = [
        f"# Brief: {title}",
        "",
        f"Session `{notes.session_id}` with {notes.model or 'a model'} "
        f"({', '.join(notes.policy_versions) or 'no version'}), started "
        f"{notes.created:%Y-%m-%d %H:%M} UTC. Phases: {', '.join(CHAT_PHASES)}; {status}.",
    ]

    def section(name: str, items: list[str]) -> None:
        heading = next(h for h in SECTIONS if h.endswith(f" {name}"))
        lines.extend(["", heading, ""])
        lines.extend(items or [NONE])

    section("Task", [_md(notes.task)])
    clarified = [
        f"- **{c.dimension}**: {_md(c.answer)} (asked: {_md(c.question)})" for c in notes.clarified
    ]
    clarified += [
        f"- **{a.dimension}**: {_md(a.correction)} (corrects the assumption: {_md(a.statement)})"
        for a in notes.assumptions
        if not a.confirmed
    ]
    section("Clarified scope and constraints", clarified)
    section(
        "Confirmed assumptions",
        [f"- **{a.dimension}**: {_md(a.statement)}" for a in notes.assumptions if a.confirmed],
    )
    section(
        "Open questions",
        [f"- **{q.dimension}**: {_md(q.question)}" for q in notes.open_questions],
    )
    research = [
        f"- {_md(f.correction or f.text)} — source: `{f.source}`"
        + (f" (the model wrote: {_md(f.text)})" if f.correction else "")
        for f in notes.findings
    ]
    research += [
        f"- read `{s.label}` ({s.source_id}): {_md(s.text)[:200]}"
        for s in notes.sources.values()
        if s.read
    ]
    if notes.confidence:
        research.append(f"- confidence in the answer: {notes.confidence}")
    section("Research notes", research)
    plan = [
        f"{i}. **{t.component}**: {_md(t.text)}" + (f" — {_md(t.note)}" if t.note else "")
        for i, t in enumerate(notes.tasks, 1)
    ] or [NONE]
    if notes.chosen_approach:
        plan += ["", f"Approach: **{notes.chosen_approach}**"]
    elif notes.approaches:
        plan += ["", f"Approaches considered, none chosen: {', '.join(notes.approaches)}"]
    section("Task plan", plan)
    section(
        "Risks",
        [
            f"- **{r.component}**: {_md(r.text)}" + (f" — {_md(r.comment)}" if r.comment else "")
            for r in notes.risks
        ],
    )
    section(
        "Dependencies",
        [f"- **{d.task}** needs **{d.needs}** ({d.kind})" for d in notes.dependencies],
    )
    return "\n".join(lines) + "\n"


def write_brief(notes: SessionNotes, path: Path) -> Path:
    """Write the brief atomically (a Ctrl-C mid-write keeps the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(render_brief(notes))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
