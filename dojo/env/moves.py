"""The candidate's move grammar: what a move looks like as text, and its parser.

A move is one line::

    <name>[ <arg>=<value>]*[ | <free text>]

for example ``ask_question dimension=scope | What is out of scope for v1?``.
Names and argument values come from closed sets published with every
observation (:class:`MoveSpec`), so a policy can constrain its decoding to
valid moves, and a real LLM reads it as plain text. Only the first non-empty
line counts; anything after it is ignored.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

TEXT_SEPARATOR = " | "
MAX_TEXT_CHARS = 1000

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ArgSpec(BaseModel):
    """One argument of a move: a name and the closed set of its values."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    values: tuple[str, ...] = Field(min_length=1)


class MoveSpec(BaseModel):
    """A move the candidate may make at this decision point."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    args: tuple[ArgSpec, ...] = ()
    takes_text: bool = False
    description: str = ""

    def usage(self) -> str:
        """One line documenting the move, as shown to the candidate."""
        parts = [self.name]
        parts += [f"{a.name}={'|'.join(a.values)}" for a in self.args]
        line = " ".join(parts)
        if self.takes_text:
            line += f"{TEXT_SEPARATOR}<text>"
        return f"{line}  — {self.description}" if self.description else line


class Move(BaseModel):
    """A parsed move, or an invalid one with the reason it was rejected."""

    model_config = ConfigDict(frozen=True)

    name: str
    args: dict[str, str] = Field(default_factory=dict)
    text: str = ""
    valid: bool = True
    error: str | None = None

    @classmethod
    def invalid(cls, reason: str, raw: str = "") -> Move:
        return cls(name="invalid_move", text=raw[:MAX_TEXT_CHARS], valid=False, error=reason)


def format_move(name: str, args: dict[str, str] | None = None, text: str = "") -> str:
    """Render a move in the grammar (the inverse of :func:`parse_move`)."""
    parts = [name] + [f"{k}={v}" for k, v in (args or {}).items()]
    line = " ".join(parts)
    text = " ".join(text.split())
    return f"{line}{TEXT_SEPARATOR}{text}" if text else line


def parse_move(raw: str, available: list[MoveSpec] | tuple[MoveSpec, ...]) -> Move:
    """Parse model output against the moves available now.

    Never raises: output that does not fit the grammar or the closed sets
    becomes an ``invalid_move`` carrying the reason.
    """
    line = next((ln.strip() for ln in raw.splitlines() if ln.strip()), "")
    if not line:
        return Move.invalid("empty output", raw)
    head, sep, text = line.partition("|")
    text = text.strip() if sep else ""
    tokens = head.split()
    if not tokens:
        return Move.invalid("no move name before '|'", raw)
    name = tokens[0].lower()
    if not _NAME.match(name):
        return Move.invalid(f"not a move name: {tokens[0][:40]!r}", raw)
    spec = next((m for m in available if m.name == name), None)
    if spec is None:
        names = ", ".join(m.name for m in available)
        return Move.invalid(f"move {name!r} is not available here (available: {names})", raw)
    args: dict[str, str] = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq:
            return Move.invalid(f"argument {token[:40]!r} is not key=value", raw)
        key = key.lower()
        arg = next((a for a in spec.args if a.name == key), None)
        if arg is None:
            return Move.invalid(f"{name} takes no argument {key!r}", raw)
        if key in args:
            return Move.invalid(f"argument {key!r} given twice", raw)
        if value.lower() not in arg.values:
            return Move.invalid(f"{key}={value[:40]!r} is not one of {', '.join(arg.values)}", raw)
        args[key] = value.lower()
    missing = [a.name for a in spec.args if a.name not in args]
    if missing:
        return Move.invalid(f"{name} needs {', '.join(missing)}", raw)
    if text and not spec.takes_text:
        text = ""  # free text on a move that takes none carries no meaning; drop it
    return Move(name=name, args=args, text=text[:MAX_TEXT_CHARS])
