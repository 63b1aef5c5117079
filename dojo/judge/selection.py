"""Which decisions the judge grades, and what it is asked about each.

A decision is *judgeable* when it touched — the simulator reported signals for —
a behaviour that has judge components (SPEC §3's J kind); those behaviours are
what the judge grades. It is *due* when it is judgeable and the sampling picks
it. Selection depends on the decision alone (ids and signals, never on arrival
order), so the agent that asks the judge and the agents that wait for its
answers agree on what is due without talking to each other, and a replay picks
the same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dojo.env.moves import Move
from dojo.env.protocol import EpisodeSpec
from dojo.events.models import DecisionMade
from dojo.judge.request import JudgeRequest
from dojo.judge.rubrics import JUDGE_COMPONENTS
from dojo.judge.sampling import SamplingConfig


def judged_behaviours(signals: Mapping[str, float]) -> tuple[str, ...]:
    """The behaviours with judge components among those the signals score, sorted."""
    codes = {key.split("/", 1)[0] for key in signals}
    return tuple(sorted(codes & JUDGE_COMPONENTS.keys()))


def is_due(
    decision_id: str, episode_id: str, signals: Mapping[str, float], sampling: SamplingConfig
) -> bool:
    """True when the judge is to grade this decision."""
    return bool(judged_behaviours(signals)) and sampling.selects_ids(decision_id, episode_id)


def judge_request(
    decision: DecisionMade, spec: EpisodeSpec, history: Sequence[Move]
) -> JudgeRequest:
    """The request for a judgeable decision; ``history`` is the episode's earlier moves.

    Raises ``ValueError`` for a decision with nothing to judge (see :func:`is_due`).
    """
    behaviours = judged_behaviours(decision.signals)
    if not behaviours:
        raise ValueError(f"decision {decision.decision_id} touched no judged behaviour")
    return JudgeRequest(
        decision_id=decision.decision_id,
        episode_id=decision.episode_id,
        episode_type=spec.episode_type,
        stage=spec.stage,
        phase=decision.phase,
        step=decision.step,
        behaviours=behaviours,
        observation=decision.prompt_text,
        completion=decision.completion_text,
        move=decision.move,
        consequences=tuple(decision.consequences),
        history=tuple(history),
    )
