"""Observations the policy tests act on (the grammar's tricky cases included)."""

from __future__ import annotations

from dojo.env.moves import ArgSpec, MoveSpec
from dojo.env.protocol import Observation

MOVES = (
    MoveSpec(
        name="ask_question",
        args=(ArgSpec(name="dimension", values=("scope", "constraints", "acceptance")),),
        takes_text=True,
        description="ask the product owner",
    ),
    MoveSpec(name="checkpoint"),
    MoveSpec(name="checkpoint_continue"),
    MoveSpec(name="signal_ready", description="enough is known to plan"),
    MoveSpec(
        name="identify_risk",
        args=(
            ArgSpec(name="severity", values=("low", "medium", "high")),
            ArgSpec(name="kind", values=("tech", "scope")),
        ),
    ),
    MoveSpec(name="state_assumption", takes_text=True),
)


def observation(
    text: str = "The PO wants a CSV export of invoices; details are vague.", step: int = 0
) -> Observation:
    return Observation(text=text, phase="elicitation", step=step, moves=MOVES)
