"""The brief: every section, in order, whatever the session established; sources kept."""

from __future__ import annotations

from pathlib import Path

from dojo.chat.brief import NONE, SECTIONS, render_brief, write_brief
from dojo.chat.notes import (
    Assumption,
    Clarification,
    Dependency,
    Finding,
    OpenQuestion,
    PlanTask,
    Risk,
    SessionNotes,
    Source,
    load_notes,
    save_notes,
    state_path,
)


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ") or line.startswith("### ")]


def test_an_empty_session_still_has_every_section_in_order() -> None:
    text = render_brief(SessionNotes(session_id="human-x", task="Add a --config flag"))
    assert _headings(text) == list(SECTIONS)
    assert text.count(NONE) == len(SECTIONS) - 1  # the task is never empty
    assert "stopped during elicitation" in text


def _full() -> SessionNotes:
    notes = SessionNotes(session_id="human-y", task="Load a TOML config", finished=True)
    notes.clarified.append(Clarification(dimension="scope", question="v1?", answer="CLI only"))
    notes.assumptions += [
        Assumption(dimension="users", statement="developers only", confirmed=True),
        Assumption(
            dimension="data", statement="no secrets", confirmed=False, correction="tokens too"
        ),
    ]
    notes.open_questions.append(OpenQuestion(dimension="performance", question="how big?"))
    notes.sources["s1"] = Source(
        source_id="s1", path="docs/a.md", lines="1-40", text="TOML", read=True
    )
    notes.findings.append(Finding(source_id="s1", source="docs/a.md:1-40", text="use tomllib"))
    notes.tasks += [
        PlanTask(component="toml_loader", text="read the file"),
        PlanTask(component="cli_flag", text="add --config", note="after the loader"),
    ]
    notes.risks.append(Risk(component="toml_loader", text="bad files", comment="validate"))
    notes.dependencies.append(Dependency(task="cli_flag", needs="toml_loader", kind="interface"))
    notes.chosen_approach = "extend_module"
    return notes


def test_what_the_session_established_lands_in_its_section() -> None:
    text = render_brief(_full())
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if line in SECTIONS:
            current = line
        elif current:
            sections[current] = sections.get(current, "") + line + "\n"
    assert _headings(text) == list(SECTIONS)
    assert "CLI only" in sections["## Clarified scope and constraints"]
    # a corrected assumption is a clarification, not a confirmed assumption
    assert "tokens too" in sections["## Clarified scope and constraints"]
    assert "developers only" in sections["## Confirmed assumptions"]
    assert "tokens too" not in sections["## Confirmed assumptions"]
    assert "how big?" in sections["## Open questions"]
    assert "use tomllib — source: `docs/a.md:1-40`" in sections["## Research notes"]
    plan = sections["## Task plan"]
    assert plan.index("1. **toml_loader**") < plan.index("2. **cli_flag**")
    assert "after the loader" in plan and "extend_module" in plan
    assert "bad files — validate" in sections["### Risks"]
    assert "**cli_flag** needs **toml_loader** (interface)" in sections["### Dependencies"]
    assert NONE not in text
    assert "complete" in text


def test_brief_and_state_are_written_and_read_back(tmp_path: Path) -> None:
    notes = _full()
    brief = write_brief(notes, tmp_path / "out" / "brief.md")
    assert brief.read_text() == render_brief(notes)
    state = state_path(brief)
    save_notes(notes, state)
    assert state.name == "brief.md.session.json"
    assert load_notes(state) == notes
    assert not list(state.parent.glob("*.tmp"))
