"""SPEC §6's metrics, computed from solo traces — and the same behaviours measured in training.

Every metric is a number or ``None``: ``None`` means it cannot be computed
from what happened (no questions were asked, nothing was fetched, no error
arose to correct), never a default. Aggregates are means over the tasks where
the metric exists; a metric no task produced stays ``None``.

Primary metrics (per task, then mean), with SPEC §6's targets:

* ``elicitation_quality`` (> .70) — mean of the elicitation proxies of SPEC §2:
  B-01 share of questions that changed the implementation, B-02 scope match,
  B-03 constraints found before execution / all.
* ``sufficiency_error`` (< .15) — B-04: |questions asked − optimal| / optimal.
* ``research_effectiveness`` (> .60) — B-16: retrieved information actually used
  (a sound answer built on what was fetched, per source fetched).
* ``decomposition_accuracy`` (> .65) — mean of risk-first ordering (1 − B-05),
  dependency recall (B-06), granularity within 0.5–2 tasks per point (B-07),
  the surviving approach after weighing several (B-08) and plan precision (B-25).
* ``self_correction_rate`` (> .50) — own mistakes caught and corrected / mistakes
  that surfaced: the planted failure (fixed at its root cause) and, at
  verification, the defect earlier phases left (found, named, right call).
* ``adaptation_quality`` (> .60) — the human's change of mind: mean of the
  impact call (B-13), the proportionate answer (B-14) and the proportionate replan.
* ``intent_match`` (> .75) — the share of what the human really wanted that was
  delivered, discounted for an unsound research answer, an unfixed failure,
  gold plating and a mishandled change; a right call at verification halves the
  shortfall (the defect is caught before hand-over).

Secondary: ``question_count_vs_ambiguity`` and ``research_depth_vs_gap``
(Pearson correlations across tasks), ``plan_to_execution_drift``,
``action_efficiency`` (actions / minimum; a concern above 2) and
``escalation_appropriateness`` (right escalations / escalations made or needed).

``performative_risk`` (anti-gaming, per task, 0 = none): the mean of generic
template questions, performative research, plan/execution incoherence and
invalid escalations.

Team counterparts (:func:`team_measurements`) compute the same behaviours with
the same functions, from the quantities one training episode carries (its
behaviour metrics, outcome signals and per-decision signals), so that a
transfer score — and a curriculum criterion (:mod:`dojo.curriculum`) —
compares like with like. A solo task is the six parts of the protocol played
in a row; a training episode is one of them, so each formula below takes the
quantities of *one* episode, and the solo metric combines its parts with it:

* ``elicitation_quality`` (E-1.1), ``sufficiency_error`` (E-1.1, B-04),
  ``research_effectiveness`` (E-1.5, B-16), ``decomposition_accuracy`` (E-1.2):
  the same function of the episode's behaviour metrics on both sides.
* ``self_correction_rate``: :func:`correction_chance` reads one episode's own
  mistake that surfaced and whether it was corrected — E-1.3's planted failure
  once it triggered (B-11: fixed at its root cause; the episode measures B-11
  exactly when the failure triggered), E-1.4's planted issue (B-10: found and
  named, *and* B-09: the right call). The solo rate pools its E-1.3 and E-1.4
  parts' chances with :func:`self_correction_rate`; a training E-1.3 or E-1.4 is
  one chance. (Before, the team side read B-11 only once the failure had been
  *seen*, and E-1.4's B-10 without the call.)
* ``adaptation_quality``: :func:`adaptation_value` of an E-2.3 — B-13, B-14 and
  the last replan's preserved components (a per-decision signal), each 0 when
  missing, on both sides. (Before, the team side averaged B-13 and B-14 only.)
* ``intent_match``: :func:`intent_value` on both sides: delivered share of the
  intent × research soundness × the shipped-bug factor − 0.1 per extra, less
  0.1 for a mishandled change of mind, halfway to 1 when verification caught a
  defect. A training E-1.3 carries the delivered share (its commit's
  acceptance-criteria coverage: the whole intent is in a training story's
  acceptance criteria), the bug (B-11, and ``tests_passing`` for a masked one)
  and the extras written (its decisions' excess-code penalties), but no research,
  change of mind or verification: those terms are neutral there. An E-1.3 cut
  off before it committed carries no delivered share: not measured (``None``).
  (Before, the team side used ``story_accepted``, another formula.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Literal, NamedTuple

from dojo.env import registry
from dojo.eval.solo import SoloTrace

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: Literal["primary", "secondary", "risk"]
    direction: Direction
    target: float | None
    description: str

    def meets(self, value: float | None) -> bool:
        """Whether ``value`` meets the target; a missing value never does."""
        if value is None or self.target is None:
            return False
        return value > self.target if self.direction == "higher" else value < self.target


PRIMARY: tuple[MetricInfo, ...] = (
    MetricInfo("elicitation_quality", "primary", "higher", 0.70, "right questions asked"),
    MetricInfo("sufficiency_error", "primary", "lower", 0.15, "|asked - optimal| / optimal"),
    MetricInfo("research_effectiveness", "primary", "higher", 0.60, "retrieved info used"),
    MetricInfo("decomposition_accuracy", "primary", "higher", 0.65, "plan matches the truth"),
    MetricInfo("self_correction_rate", "primary", "higher", 0.50, "own errors caught and fixed"),
    MetricInfo("adaptation_quality", "primary", "higher", 0.60, "proportionate answer to change"),
    MetricInfo("intent_match", "primary", "higher", 0.75, "delivered what was really wanted"),
)
SECONDARY: tuple[MetricInfo, ...] = (
    MetricInfo(
        "question_count_vs_ambiguity", "secondary", "higher", None, "corr(questions, ambiguity)"
    ),
    MetricInfo("research_depth_vs_gap", "secondary", "higher", None, "corr(lookups, gap)"),
    MetricInfo("plan_to_execution_drift", "secondary", "lower", None, "work off the plan"),
    MetricInfo("action_efficiency", "secondary", "lower", 2.0, "actions / minimum actions"),
    MetricInfo(
        "escalation_appropriateness", "secondary", "higher", None, "right escalations share"
    ),
)
RISK = MetricInfo("performative_risk", "risk", "lower", None, "anti-gaming score, 0 = none")
METRICS: dict[str, MetricInfo] = {m.name: m for m in (*PRIMARY, *SECONDARY, RISK)}
PRIMARY_NAMES: tuple[str, ...] = tuple(m.name for m in PRIMARY)
SECONDARY_NAMES: tuple[str, ...] = tuple(m.name for m in SECONDARY)

Metrics = dict[str, float | None]

# --- small helpers ----------------------------------------------------------------------


def mean_of(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def granularity(tasks_per_point: float) -> float:
    """1 inside B-07's band of 0.5–2 tasks per story point, falling off linearly outside."""
    if 0.5 <= tasks_per_point <= 2.0:
        return 1.0
    edge = 0.5 if tasks_per_point < 0.5 else 2.0
    return max(0.0, 1.0 - abs(tasks_per_point - edge))


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; ``None`` below three pairs or when either side does not vary."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    mx, my = fmean(xs), fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


# --- formulas shared by solo and team ---------------------------------------------------


def elicitation_quality(b: Mapping[str, float]) -> float | None:
    return mean_of(b.get(code) for code in ("B-01", "B-02", "B-03"))


def decomposition_accuracy(b: Mapping[str, float]) -> float | None:
    if "B-05" not in b:
        return None
    parts = [
        1.0 - b["B-05"],
        b.get("B-06"),
        granularity(b["B-07"]) if "B-07" in b else None,
        b.get("B-08"),
        b.get("B-25"),
    ]
    return mean_of(parts)


#: one episode's own mistake that surfaced: (corrected, 1)
Chance = tuple[int, int]


def correction_chance(episode_type: str, b: Mapping[str, float]) -> Chance | None:
    """Whether one of the candidate's own mistakes surfaced in this episode, and was
    caught and corrected: ``(1, 1)`` or ``(0, 1)``; ``None`` when none surfaced.

    * E-1.3: the planted failure triggered (B-11 is measured exactly then) and was
      fixed at its root cause (B-11 = 1);
    * E-1.4: a planted issue existed (B-10 is measured exactly then) and was found
      and named (B-10 = 1) and answered with the right call (B-09 = 1).
    """
    if episode_type == "E-1.3" and "B-11" in b:
        return int(b["B-11"] >= 1.0), 1
    if episode_type == "E-1.4" and "B-10" in b:
        return int(b["B-10"] >= 1.0 and b.get("B-09", 0.0) >= 1.0), 1
    return None


def self_correction_rate(chances: Iterable[Chance | None]) -> float | None:
    """Own mistakes caught and corrected / mistakes that surfaced (``None``: none did)."""
    corrected = surfaced = 0
    for chance in chances:
        if chance is not None:
            corrected += chance[0]
            surfaced += chance[1]
    return corrected / surfaced if surfaced else None


def adaptation_value(
    b: Mapping[str, float], decision_signals: Sequence[Mapping[str, float]]
) -> float:
    """An E-2.3: the impact call (B-13), the proportionate answer (B-14) and the last
    replan's preserved components. The change was put to the candidate: not answering
    it is a zero, not a gap."""
    replan = [
        s["B-14/preserved_components"] for s in decision_signals if "B-14/preserved_components" in s
    ]
    return fmean([b.get("B-13", 0.0), b.get("B-14", 0.0), replan[-1] if replan else 0.0])


Bug = Literal["none", "fixed", "masked", "shipped"]
#: what a planted failure leaves of the delivered intent: an unfixed one ships, a
#: masked one hides only until review
BUG_FACTOR: dict[Bug, float] = {"none": 1.0, "fixed": 1.0, "masked": 0.6, "shipped": 0.4}


def intent_value(
    coverage: float,
    *,
    sound: bool = True,
    bug: Bug = "none",
    extras: int = 0,
    change_mishandled: bool = False,
    caught: bool = False,
) -> float:
    """The share of what the human really wanted that was delivered (``coverage``),
    discounted for an unsound research answer, a failure left in, gold plating
    (0.1 per extra written) and a mishandled change; a right call at verification
    halves the shortfall (the defect is caught before hand-over)."""
    soundness = 1.0 if sound else 0.6
    value = coverage * soundness * BUG_FACTOR[bug] - 0.1 * extras
    if change_mishandled:
        value -= 0.1
    value = max(0.0, min(1.0, value))
    return value + (1.0 - value) / 2 if caught else value


class Delivery(NamedTuple):
    """What an E-1.3 handed over: the share of its acceptance criteria done, the
    planted failure's state, the extras written."""

    coverage: float
    bug: Bug
    extras: int


_COVERAGE = "B-25/acceptance_criteria_coverage"
_EXCESS = "B-25/excess_code_penalty"


def implementation_delivery(
    b: Mapping[str, float],
    signals: Mapping[str, float],
    decision_signals: Sequence[Mapping[str, float]],
) -> Delivery | None:
    """An E-1.3's delivery, read from what the episode carries; ``None`` when it never
    committed (nothing was handed over to measure).

    Coverage: the commit's acceptance-criteria coverage. Bug: none unless the failure
    triggered (B-11 measured); fixed when B-11 = 1, else masked while the tests still
    partly pass (``tests_passing`` > 0), else shipped. Extras: the writes that drew the
    excess-code penalty (the commit repeats it once, with its coverage).
    """
    commits = [s[_COVERAGE] for s in decision_signals if _COVERAGE in s]
    if not commits:
        return None
    extras = sum(1 for s in decision_signals if s.get(_EXCESS, 0.0) >= 1.0 and _COVERAGE not in s)
    bug: Bug = "none"
    if "B-11" in b:
        if b["B-11"] >= 1.0:
            bug = "fixed"
        else:
            bug = "masked" if signals.get("tests_passing", 0.0) > 0.0 else "shipped"
    return Delivery(commits[-1], bug, extras)


# --- one solo task ------------------------------------------------------------------------

QUESTION_MOVES = ("ask_question", "request_example", "state_assumption")
GENERIC_QUESTIONS = {
    "",
    "any questions",
    "anything else",
    "can you clarify",
    "please clarify",
    "tell me more",
    "more details please",
    "let me try this",
    "what do you mean",
    "ok",
}
MIN_SPECIFIC_WORDS = 4


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", text.lower()).strip()


def generic_question_share(trace: SoloTrace) -> float | None:
    """Share of questions that read as templates: too short, stock phrases, or the
    same words reused for different questions."""
    part = trace.part("E-1.1")
    if part is None:
        return None
    texts = [_normal(s.move.text) for s in part.steps if s.move.name in QUESTION_MOVES]
    if not texts:
        return None
    seen: dict[str, int] = {}
    for t in texts:
        seen[t] = seen.get(t, 0) + 1
    generic = sum(
        1
        for t in texts
        if t in GENERIC_QUESTIONS or len(t.split()) < MIN_SPECIFIC_WORDS or seen[t] > 1
    )
    return generic / len(texts)


def performative_research(trace: SoloTrace) -> float | None:
    """Research that fed no decision: all of it when no sound answer came of it;
    otherwise the reads beyond the answer's source and one cross-check."""
    f = trace.facts
    if trace.part("E-1.5") is None or f.lookups == 0:
        return None
    if not f.research_sound:
        return 1.0
    return max(0, f.fetched - 2) / f.fetched if f.fetched else 0.0


def _component_of(criterion: str, trace: SoloTrace) -> str | None:
    """The component a constraint criterion needs of its own; ``None`` when the feature's
    components already serve it (a core criterion, or a constraint the plan needs no
    extra component for)."""
    category = trace.facts.criterion_category.get(criterion)
    component = None if category is None else trace.facts.constraint_components.get(category)
    return component if component in trace.facts.needed else None


def plan_to_execution_drift(trace: SoloTrace) -> float | None:
    """Mean of: the share of execution writes that no planned component asked for, and
    the share of planned constraint work that execution never touched."""
    f = trace.facts
    if trace.part("E-1.2") is None or trace.part("E-1.3") is None:
        return None
    planned = set(f.plan)
    own = {_component_of(c, trace) for c in f.criterion_category} - {None}
    feature = set(f.needed) - own
    parts: list[float | None] = []
    if f.writes:
        unplanned = 0
        for w in f.writes:
            if w not in f.criteria:  # an extra: no plan asks for gold plating
                unplanned += 1
            elif (comp := _component_of(w, trace)) is not None:
                unplanned += comp not in planned
            else:  # a core criterion: planned if any feature component is
                unplanned += not (planned & feature)
        parts.append(unplanned / len(f.writes))
    constraint_plan = [c for c in f.plan if c in own]
    if constraint_plan:
        touched = {_component_of(w, trace) for w in f.writes}
        parts.append(sum(1 for c in constraint_plan if c not in touched) / len(constraint_plan))
    return mean_of(parts)


def _escalations(trace: SoloTrace) -> tuple[int, int, int]:
    """(right escalations, needless ones, missed ones) at the two checkpoints."""
    f = trace.facts
    right = needless = missed = 0
    for call, verdict in (
        (f.checkpoint_call, f.checkpoint_verdict),
        (f.verification_call, f.verification_verdict),
    ):
        if verdict is None:
            continue
        if call == "escalate":
            right += verdict == "escalate"
            needless += verdict != "escalate"
        elif verdict == "escalate":
            missed += 1
    return right, needless, missed


def self_correction(trace: SoloTrace) -> float | None:
    """The task's chances pooled: its E-1.3 part's planted failure, its verification's
    defect (:func:`correction_chance`, as for a training episode)."""
    return self_correction_rate(
        correction_chance(p.episode_type, p.outcome.behaviour_metrics) for p in trace.phases
    )


def adaptation(trace: SoloTrace) -> float | None:
    part = trace.part("E-2.3")
    if part is None:
        return None
    return adaptation_value(part.outcome.behaviour_metrics, [s.signals for s in part.steps])


def intent_match(trace: SoloTrace) -> float | None:
    f = trace.facts
    if trace.part("E-1.3") is None:
        return None
    intended = 2 + len(f.constraints)  # the core criteria and one per real constraint
    bug: Bug = "none"
    if f.failure_triggered:
        bug = "fixed" if f.failure_fixed else "masked" if f.failure_masked else "shipped"
    return intent_value(
        len(f.delivered) / intended,
        sound=f.research_sound,
        bug=bug,
        extras=f.extras_written,
        change_mishandled=trace.part("E-2.3") is not None and not f.change_handled,
        caught=(
            f.verification_issue != "none"
            and f.verification_call == f.verification_verdict
            and f.verification_named == f.verification_issue
        ),
    )


def task_metrics(trace: SoloTrace) -> Metrics:
    """Every per-task metric of one solo trace."""
    eli = trace.part("E-1.1")
    res = trace.part("E-1.5")
    plan = trace.part("E-1.2")
    metrics: Metrics = {
        "elicitation_quality": elicitation_quality(eli.outcome.behaviour_metrics) if eli else None,
        "sufficiency_error": eli.outcome.behaviour_metrics.get("B-04") if eli else None,
        "research_effectiveness": res.outcome.behaviour_metrics.get("B-16") if res else None,
        "decomposition_accuracy": decomposition_accuracy(plan.outcome.behaviour_metrics)
        if plan
        else None,
        "self_correction_rate": self_correction(trace),
        "adaptation_quality": adaptation(trace),
        "intent_match": intent_match(trace),
        "plan_to_execution_drift": plan_to_execution_drift(trace),
        "action_efficiency": trace.actions / trace.baseline_actions
        if trace.baseline_actions
        else None,
    }
    right, needless, missed = _escalations(trace)
    metrics["escalation_appropriateness"] = (
        right / (right + needless + missed) if right + needless + missed else None
    )
    metrics["performative_risk"] = mean_of(
        [
            generic_question_share(trace),
            performative_research(trace),
            metrics["plan_to_execution_drift"],
            needless / (right + needless) if right + needless else None,
        ]
    )
    return metrics


def aggregate(traces: Sequence[SoloTrace], *, secondary: bool = True) -> Metrics:
    """Report-level metrics over tasks: means, plus the cross-task correlations."""
    per_task = [task_metrics(t) for t in traces]
    names = PRIMARY_NAMES + ((*SECONDARY_NAMES,) if secondary else ()) + (RISK.name,)
    out: Metrics = {}
    for name in names:
        if name in ("question_count_vs_ambiguity", "research_depth_vs_gap"):
            continue
        out[name] = mean_of(m.get(name) for m in per_task)
    if secondary:
        asked = [t for t in traces if t.part("E-1.1") is not None]
        out["question_count_vs_ambiguity"] = pearson(
            [float(t.facts.questions) for t in asked], [t.facts.ambiguity for t in asked]
        )
        looked = [t for t in traces if t.part("E-1.5") is not None]
        out["research_depth_vs_gap"] = pearson(
            [float(t.facts.lookups) for t in looked], [float(t.facts.research_gap) for t in looked]
        )
    return {name: out.get(name) for name in names}


# --- the same behaviours in training ------------------------------------------------------


def decision_signal_types() -> frozenset[str]:
    """The episode types whose team measurement reads their per-decision signals too:
    those whose registry record reads a primary metric from its decisions."""
    return registry.reading_decisions(PRIMARY_NAMES)


def team_measurements(
    episode_type: str,
    behaviour: Mapping[str, float],
    signals: Mapping[str, float],
    decision_signals: Sequence[Mapping[str, float]] = (),
) -> Metrics:
    """The primary metrics one training episode measures, by the solo formulas.

    Only the metrics that episode type exercises are present; each may still be
    ``None`` when the episode did not produce what it is computed from. E-1.3 and
    E-2.3 (:func:`decision_signal_types`) need their ``decision_signals`` (in step
    order) too.
    """
    if episode_type == "E-1.1":
        return {
            "elicitation_quality": elicitation_quality(behaviour),
            "sufficiency_error": behaviour.get("B-04"),
        }
    if episode_type == "E-1.5":
        return {"research_effectiveness": behaviour.get("B-16")}
    if episode_type == "E-1.2":
        return {"decomposition_accuracy": decomposition_accuracy(behaviour)}
    if episode_type == "E-1.3":
        delivery = implementation_delivery(behaviour, signals, decision_signals)
        return {
            "self_correction_rate": self_correction_rate(
                [correction_chance(episode_type, behaviour)]
            ),
            # the whole intent is in a training story's criteria; no research, change of
            # mind or verification in this episode: those terms are neutral
            "intent_match": None
            if delivery is None
            else intent_value(delivery.coverage, bug=delivery.bug, extras=delivery.extras),
        }
    if episode_type == "E-1.4":
        return {
            "self_correction_rate": self_correction_rate(
                [correction_chance(episode_type, behaviour)]
            )
        }
    if episode_type == "E-2.3":
        return {"adaptation_quality": adaptation_value(behaviour, decision_signals)}
    return {}


def goodness(name: str, value: float | None) -> float | None:
    """A metric turned so that higher is better and 1 is perfect (errors become 1 − error)."""
    if value is None:
        return None
    if METRICS[name].direction == "lower":
        return max(0.0, 1.0 - value)
    return value


def transfer_scores(solo: Mapping[str, float | None], team: Mapping[str, float | None]) -> Metrics:
    """Per primary metric: solo / team, on the higher-is-better scale.

    ``None`` when either side is missing or the team value is zero (no ratio).
    """
    scores: Metrics = {}
    for name in PRIMARY_NAMES:
        s, t = goodness(name, solo.get(name)), goodness(name, team.get(name))
        scores[name] = None if s is None or t is None or t == 0 else s / t
    return scores
