"""The terminal side of a chat session: each move shown as what it is, answers read back.

Plain line input (``rich``'s ``Console.input``), so it works in any terminal and
under a pseudo-terminal; every prompt ends with :data:`PROMPT`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from dojo.chat.notes import CHAT_PHASES
from dojo.chat.phases import DONE, NEXT, MoveView

PROMPT = "you> "
STYLES: dict[str, tuple[str, str]] = {
    # kind -> (label, colour)
    "question": ("QUESTION", "cyan"),
    "assumption": ("ASSUMPTION", "yellow"),
    "research": ("RESEARCH", "magenta"),
    "task": ("TASK", "green"),
    "risk": ("RISK", "red"),
    "dependency": ("DEPENDENCY", "blue"),
    "approach": ("APPROACH", "blue"),
    "checkpoint": ("CHECKPOINT", "bold white"),
    "note": ("NOTE", "dim"),
}
PHASE_LINES = {
    "elicitation": "the model asks about the task until it is clear",
    "research": "the model searches your documents (--docs) and notes what it finds",
    "planning": "the model breaks the work into ordered tasks, risks and dependencies",
}


class TerminalDeveloper:
    """The developer at the terminal (the :class:`~dojo.chat.phases.Developer` protocol)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def panel(self, view: MoveView) -> Panel:
        label, colour = STYLES.get(view.kind, ("MOVE", "white"))
        number = f"#{view.number} " if view.number else ""
        body = Text(view.body or "(no text)", style="" if view.body else "dim")
        return Panel(
            body,
            title=f"[{colour}]{number}{label}[/] {escape(view.title)}",
            title_align="left",
            subtitle=f"source: {escape(view.source)}" if view.source else None,
            subtitle_align="left",
            border_style=colour,
        )

    def show(self, view: MoveView) -> None:
        self.console.print(self.panel(view))

    def respond(self, view: MoveView) -> str:
        self.show(view)
        return self.read(view.hint or "your answer")

    def read(self, hint: str) -> str:
        self.console.print(
            f"[dim]{escape(hint)}  ({NEXT}: next phase, {DONE}: write the brief)[/]",
            highlight=False,
        )
        return str(self.console.input(PROMPT))

    def ask(self, question: str, hint: str = "") -> str:
        """A question of the session itself (the task, a rating), not of a move."""
        self.console.print(f"[bold]{escape(question)}[/]", highlight=False)
        if hint:
            self.console.print(f"[dim]{escape(hint)}[/]", highlight=False)
        return str(self.console.input(PROMPT))

    def phase(self, name: str) -> None:
        index = CHAT_PHASES.index(name) + 1
        self.console.rule(f"[bold]Phase {index} of {len(CHAT_PHASES)}: {name}[/]")
        self.console.print(f"[dim]{PHASE_LINES.get(name, '')}[/]", highlight=False)

    def info(self, text: str) -> None:
        self.console.print(text)
