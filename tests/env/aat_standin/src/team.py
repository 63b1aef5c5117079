"""The stand-in's scripted team: what a sprint manager does during one phase.

Each agent makes one decision per phase, except that the candidate slot makes
two in development; a phase listed in ``fail`` raises. The tracer keeps only the
current phase's records, like AAT's own (SPEC §8: "the tracer is reset every
phase").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SLOTS = ("dev_lead", "qa_lead", "po", "dev_mid_backend", "dev_junior_fullstack")


@dataclass
class Decision:
    decision_id: str
    timestamp: str
    phase: str
    context: str
    action_type: str
    action_content: str
    reasoning_trace: str = ""
    outcome: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Tracer:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []


class Agent:
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self._tracer: Tracer | None = Tracer()


class SprintManager:
    """Just enough of a sprint manager for the stand-in's PhaseRunner."""

    def __init__(self, candidate: str = "dev_mid_backend", fail: tuple[str, ...] = ()) -> None:
        self.agents = [Agent(s) for s in SLOTS]
        self.candidate = candidate
        self.fail = fail
        self._seq = 0

    async def run(self, phase: str, sprint_num: int) -> dict[str, Any]:
        for agent in self.agents:
            agent._tracer = Tracer()  # reset every phase
        if phase in self.fail:
            raise RuntimeError(f"{phase} crashed")
        stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat()
        for agent in self.agents:
            n = 2 if (agent.agent_id == self.candidate and phase == "development") else 1
            for _ in range(n):
                self._seq += 1
                assert agent._tracer is not None
                agent._tracer.decisions.append(
                    Decision(
                        decision_id=f"{agent.agent_id}-s{sprint_num:02d}-{phase}-{self._seq}",
                        timestamp=stamp,
                        phase=phase,
                        context=f"{phase} context for {agent.agent_id} " + "x" * 600,
                        action_type="generate" if phase != "development" else "execute_coding_task",
                        action_content=f"{agent.agent_id} works on {phase}",
                        outcome="accepted" if phase == "qa_review" else None,
                    )
                )
        return {"days_completed": 1, "pairing_sessions": 1} if phase == "development" else {}
