"""Per-decision reward attribution: a pure function of an episode's record and the config.

For decision ``d`` of an episode with ``N = baseline_actions`` and stage weights
``(w_o, w_b)``::

    behaviour score of code b  = sum(w_c * v_c) / sum(w_c)     over b's components present
                                  (v_c = 1 - value for a penalty component)
    B_d                        = mean of the behaviour scores of the codes d touched (0: none)
    behaviour_credit           = w_b * B_d / N
    transition_bonus           = bonus[t] if correct, -wrong_factor * bonus[t] if wrong, else 0
    efficiency_penalty         = rate * w_b / N          for each decision beyond the baseline
    outcome_credit (last only) = w_o * sum(w_k * o_k) / sum(w_k)  over outcome signals present
    scalar                     = behaviour_credit + transition_bonus + outcome_credit
                                 - efficiency_penalty

A component is *present* for a decision when the simulator emitted it as a signal
(kinds T, O, T+O, T+J) or the judge scored it (kinds J, T+J); a T+J component with
both is the mean of the two. Missing components are
excluded and the rest renormalised — never filled in; ``components_present``
records what each number rests on, ``components_missing`` the judge components
that were expected but absent.

The scalar is causal (it never looks at later decisions except the outcome on the
last one), so a gymnasium env can pay it step by step, and the episode total is
``w_b * sum(B_d) / N + bonuses + w_o * O - penalties``.

Vectorised re-scoring (DuckDB/Arrow) is the same computation over flat tables:
signal rows ``(decision_id, signal, value)`` joined with
:func:`~dojo.reward.weights.component_rows` on ``signal``, grouped by
``(decision_id, behaviour)`` into ``sum(weight * if(penalty, 1 - value, value)) /
sum(weight)``, averaged per decision, then scaled by the stage row and baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.moves import Move
from dojo.env.protocol import EpisodeOutcome, EpisodeSpec, StepResult, Transition
from dojo.events.models import DecisionMade
from dojo.reward.weights import RewardConfig, load_reward_config


class DecisionRecord(BaseModel):
    """What attribution needs of one decision (a subset of the DecisionMade event)."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    move: Move
    signals: dict[str, float] = Field(default_factory=dict)
    transition: Transition | None = None
    transition_correct: bool | None = None

    @classmethod
    def from_step(cls, decision_id: str, result: StepResult) -> DecisionRecord:
        return cls(
            decision_id=decision_id,
            move=result.move,
            signals=result.signals,
            transition=result.transition,
            transition_correct=result.transition_correct,
        )

    @classmethod
    def from_event(cls, event: DecisionMade) -> DecisionRecord:
        return cls(
            decision_id=event.decision_id,
            move=event.move,
            signals=event.signals,
            transition=event.transition,
            transition_correct=event.transition_correct,
        )


class DecisionReward(BaseModel):
    """The reward vector of one decision and the scalar the learner uses."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    vector: dict[str, float]
    scalar: float
    components_present: list[str]
    components_missing: list[str] = Field(default_factory=list)
    ignored: list[str] = Field(
        default_factory=list, description="signals or judge scores the config has no weight for"
    )


class EpisodeReward(BaseModel):
    model_config = ConfigDict(frozen=True)

    reward_version: str
    decisions: list[DecisionReward]
    total: float
    outcome_score: float | None
    """The weighted outcome signal, or None when the episode reported none."""


_DEFAULT: RewardConfig | None = None


def default_config() -> RewardConfig:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_reward_config()
    return _DEFAULT


def behaviour_scores(
    signals: Mapping[str, float],
    judge: Mapping[str, float],
    config: RewardConfig,
) -> tuple[dict[str, float], list[str], list[str], list[str]]:
    """Per-behaviour weighted means of the components present.

    Returns (scores by code, components present, judge components missing, ignored keys).
    A judge score counts for a J or T+J component, a signal for every other kind and
    T+J. A T+J component with both is their mean (SPEC §3: the simulator measures, the
    judge grades) and is listed as present once per source; with one, that one counts.
    """
    weights = config.signal_weights()
    values_of: dict[str, list[float]] = {}
    present: list[str] = []
    ignored: list[str] = []
    for values, from_judge in ((signals, False), (judge, True)):
        for key, value in values.items():
            entry = weights.get(key)
            if entry is None or not entry[1].accepts(from_judge=from_judge):
                ignored.append(key)
                continue
            values_of.setdefault(key, []).append(value)
            present.append(key)
    sums: dict[str, list[float]] = {}
    for key, sources in values_of.items():
        code, comp = weights[key]
        share = comp.weight / len(sources)
        acc = sums.setdefault(code, [0.0, 0.0])
        for v in sources:
            acc[0] += share * ((1.0 - v) if comp.penalty else v)
        acc[1] += comp.weight
    scores = {code: (s / w if w > 0 else 0.0) for code, (s, w) in sums.items()}
    missing = [
        f"{code}/{name}"
        for code in scores
        for name, comp in config.behaviours[code].items()
        if comp.judge_scores_it and f"{code}/{name}" not in judge
    ]
    return scores, present, missing, ignored


def outcome_score(outcome: EpisodeOutcome, config: RewardConfig) -> tuple[float | None, list[str]]:
    """The weighted outcome signal over the parts present (None when none is)."""
    total = weight = 0.0
    present = []
    for name, w in config.outcome.items():
        if name in outcome.signals:
            total += w * outcome.signals[name]
            weight += w
            present.append(f"outcome/{name}")
    return (total / weight if weight > 0 else None), present


def reward_decision(
    decision: DecisionRecord,
    index: int,
    *,
    stage: int,
    baseline_actions: int,
    judge: Mapping[str, float] | None = None,
    outcome: EpisodeOutcome | None = None,
    config: RewardConfig | None = None,
) -> DecisionReward:
    """The reward of decision number ``index`` (0-based); pass ``outcome`` for the last one."""
    config = config or default_config()
    judge = judge or {}
    weights = config.stages[stage]
    per_decision_max = weights.behaviour / max(1, baseline_actions)
    scores, present, missing, ignored = behaviour_scores(decision.signals, judge, config)
    b = sum(scores.values()) / len(scores) if scores else 0.0
    vector = {f"behaviour/{code}": s for code, s in sorted(scores.items())}
    vector["behaviour"] = b
    vector["behaviour_credit"] = per_decision_max * b
    bonus = 0.0
    if decision.transition is not None and decision.transition_correct is not None:
        full = config.transitions[decision.transition]
        bonus = full if decision.transition_correct else -config.wrong_transition_factor * full
    vector["transition_bonus"] = bonus
    beyond = index >= max(1, baseline_actions)
    penalty = config.efficiency.beyond_baseline_rate * per_decision_max if beyond else 0.0
    vector["efficiency_penalty"] = penalty
    scalar = vector["behaviour_credit"] + bonus - penalty
    if outcome is not None:
        o_score, o_present = outcome_score(outcome, config)
        present += o_present
        if o_score is not None:
            vector["outcome"] = o_score
            vector["outcome_credit"] = weights.outcome * o_score
            scalar += vector["outcome_credit"]
    return DecisionReward(
        decision_id=decision.decision_id,
        vector=vector,
        scalar=scalar,
        components_present=present,
        components_missing=missing,
        ignored=ignored,
    )


def attribute_episode(
    spec: EpisodeSpec,
    decisions: Sequence[DecisionRecord],
    outcome: EpisodeOutcome,
    judge_scores: Mapping[str, Mapping[str, float]] | None = None,
    config: RewardConfig | None = None,
) -> EpisodeReward:
    """Reward every decision of one episode (see the module docstring for the formula).

    ``judge_scores`` maps decision_id -> {``"B-01/question_specificity"``: 0.8, ...};
    decisions the judge did not score (or failed on) simply have no entry.
    """
    config = config or default_config()
    judge_scores = judge_scores or {}
    last = len(decisions) - 1
    rewards = [
        reward_decision(
            decision,
            index,
            stage=spec.stage,
            baseline_actions=outcome.baseline_actions,
            judge=judge_scores.get(decision.decision_id),
            outcome=outcome if index == last else None,
            config=config,
        )
        for index, decision in enumerate(decisions)
    ]
    return EpisodeReward(
        reward_version=config.reward_version,
        decisions=rewards,
        total=sum(r.scalar for r in rewards),
        outcome_score=outcome_score(outcome, config)[0],
    )


def meta_reward(metrics: Mapping[str, float], config: RewardConfig | None = None) -> float | None:
    """SPEC §3's cross-episode meta reward: the weighted sum of B-27..B-30.

    Metrics that are missing are excluded and the sum rescaled to the full weight,
    so a history that exercised three of the four is not read as scoring zero on
    the fourth. None when none is present.
    """
    config = config or default_config()
    present = {k: w for k, w in config.meta.items() if k in metrics}
    if not present:
        return None
    weighted = sum(w * metrics[k] for k, w in present.items())
    return weighted * sum(config.meta.values()) / sum(present.values())
