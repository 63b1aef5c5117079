"""Dojo's policy as AAT's candidate agent, one episode at a time.

:class:`PolicyCandidate` answers the candidate's completion requests (through
:mod:`dojo.env.aat.route`) with the acting policy, exactly as an environment
worker asks it for a move: an :class:`~dojo.env.protocol.Observation` through
:func:`dojo.workers.rollout.act_all`, so a model's answer comes with its prompt
and completion token ids, log-probs and grammar masks. Every answer is kept as a
:class:`CandidateTurn`, in order, for :mod:`dojo.workers.aat_rollout` to publish.

AAT asks for free text (a clarifying question in planning, KEEP/DROP/PUZZLE in a
retro), so the one move offered is :data:`REPLY`, whose free text is what AAT
receives. Its team is AAT's mock: the rest of the conversation is canned.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from dojo.env.moves import Move, MoveSpec, parse_move
from dojo.env.protocol import EpisodeSpec, Observation
from dojo.workers.rollout import Action, Actor, act_all

REPLY = MoveSpec(
    name="reply",
    takes_text=True,
    description="answer your AAT teammate; your text is what the team receives",
)
MOVES: tuple[MoveSpec, ...] = (REPLY,)


@dataclass(frozen=True)
class CandidateTurn:
    """One generation of the candidate: what AAT asked, and what the policy answered."""

    phase: str
    prompt: str
    """AAT's whole prompt, as its agent built it (system prompt, context, message)."""
    action: Action
    move: Move
    generation_ms: float


class PolicyCandidate:
    """The candidate of one AAT episode, acted by ``actor``.

    Bind it to AAT's candidate agent (:meth:`bind`) before the episode runs: the
    agent's tracer says which phase a request belongs to, and its conversation
    history holds the message AAT asked (the prompt's last part).
    """

    def __init__(self, actor: Actor, spec: EpisodeSpec) -> None:
        self.actor = actor
        self.spec = spec
        self.version = actor.version  # one version acts a whole episode
        self.turns: list[CandidateTurn] = []
        self._agent: Any = None
        # AAT may ask concurrently (asyncio.gather over its agents); the policy decodes
        # one request at a time, and turns stay in the order they were answered
        self._lock = asyncio.Lock()

    def bind(self, agent: Any) -> None:
        self._agent = agent

    def _phase(self) -> str:
        tracer = getattr(self._agent, "tracer", None)
        return str(getattr(tracer, "current_phase", "") or "unknown")

    def _message(self, prompt: str) -> str:
        # AAT's generate appends the user message to the history before it posts
        history = getattr(self._agent, "conversation_history", None) or []
        if history and history[-1].get("role") == "user":
            return str(history[-1].get("content", ""))
        return prompt

    async def complete(self, prompt: str, body: dict[str, Any]) -> str:
        """Answer one completion request of AAT's candidate agent with the policy."""
        async with self._lock:
            step = len(self.turns)
            observation = Observation(
                text=prompt,
                phase=self._phase(),
                step=step,
                moves=MOVES,
                episode_type=self.spec.episode_type,
                messages=(self._message(prompt),),
            )
            seed = self.spec.seed * 1_000 + step  # as EpisodeRun.action_seed
            started = time.perf_counter()
            # policy generation is CPU work: off the loop, so AAT's and Kafka's tasks go on
            (action,) = await asyncio.get_running_loop().run_in_executor(
                None, act_all, self.actor, [observation], [seed]
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            move = parse_move(action.text, MOVES)
            self.turns.append(CandidateTurn(observation.phase, prompt, action, move, elapsed_ms))
            # an invalid move (a scripted policy's stray line) reaches AAT as it was written
            return move.text if move.valid else action.text
