"""What a chat session has established so far: the state a brief is written from.

One pydantic model, saved as JSON beside the brief (``<brief>.session.json``) after
every move, so ``dojo chat --resume`` continues where a session stopped and a
Ctrl-C loses nothing that was answered.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: the protocol's phases a chat session walks (SPEC §6, the ones with no code to run)
CHAT_PHASES: tuple[str, ...] = ("elicitation", "research", "planning")
STATE_SUFFIX = ".session.json"


class _Note(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clarification(_Note):
    dimension: str
    question: str
    answer: str


class Assumption(_Note):
    dimension: str
    statement: str
    confirmed: bool
    correction: str = ""


class OpenQuestion(_Note):
    dimension: str
    question: str


class Source(_Note):
    """A passage a search listed, under the id the move grammar names it by (s1..s5)."""

    source_id: str
    path: str
    lines: str
    text: str
    read: bool = False

    @property
    def label(self) -> str:
        return f"{self.path}:{self.lines}"


class Finding(_Note):
    source_id: str
    source: str = Field(description="path:lines of the passage it rests on")
    text: str
    correction: str = ""


class PlanTask(_Note):
    component: str
    text: str
    note: str = ""


class Risk(_Note):
    component: str
    text: str
    comment: str = ""


class Dependency(_Note):
    task: str
    needs: str
    kind: str


class DecisionRef(_Note):
    """A recorded decision, for the ratings at the end (numbered as the developer saw them)."""

    number: int = Field(ge=1)
    decision_id: str
    episode_id: str
    episode_type: str
    stage: int = Field(ge=1, le=4)
    move: str


class SessionNotes(_Note):
    session_id: str
    task: str
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: str = ""
    policy_versions: list[str] = Field(default_factory=list)
    phase_index: int = Field(default=0, ge=0)
    attempt: int = Field(default=0, ge=0, description="runs of dojo chat on this session")
    known: dict[str, list[str]] = Field(default_factory=dict)
    clarified: list[Clarification] = Field(default_factory=list)
    assumptions: list[Assumption] = Field(default_factory=list)
    open_questions: list[OpenQuestion] = Field(default_factory=list)
    sources: dict[str, Source] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    confidence: str | None = None
    components: list[str] = Field(default_factory=list)
    tasks: list[PlanTask] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    approaches: list[str] = Field(default_factory=list)
    chosen_approach: str | None = None
    decisions: list[DecisionRef] = Field(default_factory=list)
    rating: int | None = Field(default=None, ge=1, le=5)
    move_ratings: dict[int, int] = Field(default_factory=dict)
    finished: bool = Field(default=False, description="every phase is over")

    @property
    def phase(self) -> str | None:
        return CHAT_PHASES[self.phase_index] if self.phase_index < len(CHAT_PHASES) else None

    def summary(self, limit: int = 1500) -> str:
        """What earlier phases established, in a few lines for later phases' situation."""
        parts = [f"{c.dimension}: {c.answer}" for c in self.clarified]
        parts += [f"assumed {a.dimension}: {a.correction or a.statement}" for a in self.assumptions]
        parts += [f"found ({f.source}): {f.correction or f.text}" for f in self.findings]
        text = "; ".join(parts)
        return text if len(text) <= limit else text[: limit - 3] + "..."


def state_path(brief: Path) -> Path:
    """Where a session's state lives: beside its brief."""
    return brief.with_name(brief.name + STATE_SUFFIX)


def save_notes(notes: SessionNotes, path: Path) -> None:
    """Write atomically: a Ctrl-C mid-write leaves the previous state, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(notes.model_dump_json(indent=2))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_notes(path: Path) -> SessionNotes:
    try:
        return SessionNotes.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise ValueError(f"no session to resume at {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not a dojo chat session: {exc}") from None
