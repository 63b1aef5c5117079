"""The behavioural scorer: which of B-01..B-30 a trace shows, from moves and consequences.

Detection reads only what happened — the move made and the consequences it had
(:class:`~dojo.env.protocol.StepResult`) — never prompt text and never the
hidden truth. Every consequence kind the simulator emits has a row in
:data:`KIND_BEHAVIOURS`: the behaviours it evidences, exhibited (+1) or violated
(-1); an empty row means the kind says nothing about behaviour (a test keeps the
table complete). This is the heuristic side the judge is compared with in drift
detection, and what the offline judge can lean on.

Per episode, :func:`score_trace` gives each behaviour it saw the share of its
detections that were positive. Across episodes, :func:`meta_scores` measures
B-27..B-30 (higher is better, each in [0, 1]):

* B-27 pattern recognition — for consecutive episodes of one type: the share of
  behaviours shown in the first that are shown again (reuse), averaged with the
  later episode's positive share (adaptation).
* B-28 mistake non-repetition — 1 minus the share of mistakes (violated
  behaviours) that repeat a behaviour already violated in an earlier episode.
* B-29 feedback integration — a violation is feedback; it is addressed when the
  next episode of the same type shows that behaviour and does not violate it.
* B-30 confidence calibration — 1 minus the mean gap between stated confidence
  (low .2, medium .5, high .9) and whether the episode's transitions were right.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from dojo.env import story_bank as bank
from dojo.env.protocol import StepResult

Evidence = tuple[tuple[str, int], ...]
_P, _N = 1, -1

KIND_BEHAVIOURS: dict[str, Evidence] = {
    # shared
    "invalid_move": (),
    "truncated": (),
    "episode_over": (),
    "redundant_look": (),
    "redundant_report": (),
    "redundant_call": (),
    "redundant_question": (("B-01", _N), ("B-04", _N)),
    "answer_no_news": (),
    "example_given": (),
    "status_sent": (("B-21", _P),),
    "severity_assessed": (("B-13", _P),),
    "replanned": (("B-14", _P),),
    "plan_complete": (),
    "progress_assessed": (("B-09", _P),),
    "confidence_stated": (("B-30", _P),),
    "tests_passing": (),
    "tests_failing": (("B-10", _P),),
    "error_read": (("B-11", _P),),
    "nothing_to_read": (),
    "hypothesis_stated": (("B-11", _P),),
    "root_cause_fixed": (("B-11", _P), ("B-10", _P)),
    "fix_ineffective": (("B-11", _N),),
    "needless_fix": (("B-11", _N),),
    "scope_clarified": (("B-02", _P),),
    "false_dependency": (("B-06", _N), ("B-03", _N)),
    "dependency_confirmed": (("B-06", _P),),
    "duplicate_dependency": (("B-06", _N),),
    "checkpoint_confirmed": (("B-09", _P),),
    "checkpoint_wrong": (("B-09", _N),),
    "decision_recorded": (("B-23", _P),),
    # E-1.1 elicitation
    "constraint_revealed": (("B-03", _P), ("B-01", _P)),
    "ambiguity_resolved": (("B-01", _P),),
    "completeness_confirmed": (("B-04", _P),),
    "redundant_assumption": (("B-04", _N),),
    "assumption_corrected": (("B-04", _P),),
    "assumption_accepted": (),
    "assumption_confirmed": (("B-04", _P),),
    "ready_signalled": (),
    "premature_ready": (("B-04", _N),),
    "stakeholder_left": (("B-04", _N),),
    # E-1.2 decomposition
    "task_created": (("B-07", _P),),
    "duplicate_task": (("B-07", _N),),
    "gold_plating": (("B-25", _N),),
    "risk_identified": (("B-05", _P),),
    "spike_result": (("B-05", _P),),
    "redundant_spike": (("B-05", _N),),
    "approach_proposed": (("B-08", _P),),
    "duplicate_approach": (),
    "approaches_compared": (("B-08", _P),),
    "nothing_to_compare": (("B-08", _N),),
    "approach_chosen": (),
    "late_failure": (("B-05", _N),),
    "missing_task": (("B-07", _N),),
    # E-1.3 implementation
    "file_read": (("B-18", _P),),
    "irrelevant_read": (("B-20", _N),),
    "code_written": (),
    "core_deferred": (("B-26", _N),),
    "core_done": (("B-26", _P),),
    "misplaced_code": (("B-19", _N),),
    "convention_violation": (("B-19", _N), ("B-18", _N)),
    "excess_code": (("B-25", _N),),
    "redundant_work": (),
    "struggling": (("B-09", _N),),
    "checkpoint_due": (),
    "nothing_to_explain": (),
    "symptom_masked": (("B-11", _N),),
    "escalation_resolved": (("B-09", _P), ("B-12", _P)),
    "pivot_taken": (("B-09", _P),),
    "checkpoint_missed": (("B-09", _N),),
    "delivered": (),
    "bug_recurred": (("B-11", _N),),
    "shipped_failing": (("B-10", _N),),
    # E-1.4 self-monitoring
    "progress_checked": (("B-09", _P),),
    "issue_evidence": (("B-10", _P),),
    "nothing_found": (),
    "issue_named": (),
    "issue_shipped": (("B-09", _N), ("B-10", _N)),
    # E-1.5 research
    "search_results": (("B-16", _P),),
    "code_search_results": (("B-16", _P),),
    "redundant_search": (("B-16", _N),),
    "unknown_source": (("B-17", _N),),
    "redundant_fetch": (("B-16", _N),),
    "source_read": (("B-17", _P),),
    "unread_basis": (("B-17", _N),),
    "synthesized": (("B-16", _P),),
    "research_closed": (),
    "wrong_answer_built": (("B-17", _N),),
    # E-2.1 triage
    "evidence_found": (("B-13", _P),),
    "radius_assessed": (("B-13", _P),),
    "response_right": (("B-13", _P), ("B-14", _P)),
    "over_reaction": (("B-14", _N),),
    "under_reaction": (("B-13", _N),),
    "needless_escalation": (("B-13", _N),),
    # E-2.2 recovery
    "stuck": (("B-10", _N),),
    "postmortem_written": (("B-15", _P),),
    "incident_closed": (),
    "closed_while_failing": (("B-10", _N), ("B-15", _N)),
    # E-2.3 scope change
    "urgency_clarified": (("B-02", _P),),
    "agreement": (("B-14", _P),),
    "sprint_overloaded": (("B-25", _N), ("B-14", _N)),
    "poor_fit": (("B-14", _N),),
    "plan_agreed": (),
    "request_unanswered": (("B-14", _N),),
    # E-3.1 borrowing
    "teammate_answered": (("B-22", _P),),
    "docs_read": (("B-18", _P),),
    "code_read": (("B-18", _P), ("B-20", _P)),
    "redundant_read": (),
    "tests_not_run": (("B-20", _N),),
    "tests_baseline": (("B-20", _P),),
    "review_accepted": (("B-19", _P),),
    "review_changes_requested": (("B-19", _N),),
    # E-3.2 cross-team
    "dependency_found": (("B-06", _P), ("B-03", _P)),
    "no_link": (),
    "date_learned": (("B-06", _P),),
    "blocker_raised": (("B-21", _P),),
    "false_alarm": (("B-21", _N),),
    "duplicate_alarm": (),
    "undeclared_dependency": (("B-06", _N),),
    "late_dependency_bit": (("B-21", _N),),
    # E-4.1 handoff
    "backlog_reviewed": (("B-24", _P),),
    "docs_checked": (("B-24", _P),),
    "knowledge_transferred": (("B-24", _P),),
    "redundant_handoff": (("B-24", _N),),
    "redundant_record": (),
    "work_handed_over": (("B-23", _P),),
    "redundant_handover": (),
    "handoff_complete": (),
    "orphaned_work": (("B-24", _N),),
    # E-4.2 onboarding
    "question_raised": (("B-20", _P),),
    "no_questions": (),
    "gap_closed": (("B-22", _P), ("B-20", _P)),
    "gap_still_open": (("B-22", _N),),
    "not_a_gap": (("B-20", _N),),
    "task_assigned": (),
    "task_too_big": (("B-07", _N),),
    "onboarding_done": (),
    # E-4.3 compensation
    "work_taken": (),
    "redundant_takeover": (),
    "help_arranged": (("B-12", _P),),
    "needless_help": (("B-12", _N),),
    "critical_work_unowned": (("B-14", _N),),
    "stuck_without_help": (("B-12", _N),),
}


class Detection(BaseModel):
    """One piece of evidence: decision ``decision`` exhibited (+1) or violated (-1) ``code``."""

    model_config = ConfigDict(frozen=True)

    code: str
    decision: int
    polarity: int
    evidence: str


class BehaviourReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    detections: tuple[Detection, ...]
    scores: dict[str, float]
    """Per behaviour seen: positive detections / all its detections."""

    def violated(self) -> set[str]:
        return {d.code for d in self.detections if d.polarity < 0}

    def exhibited(self) -> set[str]:
        return {d.code for d in self.detections if d.polarity > 0}


def detect(steps: Sequence[StepResult]) -> list[Detection]:
    """Every behaviour the consequences of each decision evidence, in order.

    A consequence kind missing from :data:`KIND_BEHAVIOURS` raises ``KeyError``:
    the table must grow with the simulator, never silently lag it.
    """
    found = []
    for i, step in enumerate(steps):
        for c in step.consequences:
            for code, polarity in KIND_BEHAVIOURS[c.kind]:
                found.append(Detection(code=code, decision=i, polarity=polarity, evidence=c.kind))
    return found


def score_trace(steps: Sequence[StepResult]) -> BehaviourReport:
    detections = detect(steps)
    tally: dict[str, list[int]] = {}
    for d in detections:
        t = tally.setdefault(d.code, [0, 0])
        t[0 if d.polarity > 0 else 1] += 1
    scores = {code: pos / (pos + neg) for code, (pos, neg) in sorted(tally.items())}
    return BehaviourReport(detections=tuple(detections), scores=scores)


class EpisodeRecord(BaseModel):
    """What cross-episode scoring needs of one episode."""

    model_config = ConfigDict(frozen=True)

    episode_type: str
    steps: tuple[StepResult, ...]


def _confidence_gaps(record: EpisodeRecord) -> list[float]:
    stated = [
        bank.CONFIDENCE[s.move.args["level"]]
        for s in record.steps
        if s.move.name == "assess_confidence" and s.move.args.get("level") in bank.CONFIDENCE
    ]
    judged = [s.transition_correct for s in record.steps if s.transition_correct is not None]
    if not stated or not judged:
        return []
    right = sum(1.0 for j in judged if j) / len(judged)
    return [abs(c - right) for c in stated]


def meta_scores(history: Sequence[EpisodeRecord]) -> dict[str, float]:
    """B-27..B-30 over an ordered history (see the module docstring); absent when unmeasurable."""
    reports = [score_trace(r.steps) for r in history]
    scores: dict[str, float] = {}

    pairs = []
    last_of_type: dict[str, int] = {}
    for i, record in enumerate(history):
        if record.episode_type in last_of_type:
            pairs.append((last_of_type[record.episode_type], i))
        last_of_type[record.episode_type] = i
    if pairs:
        values = []
        for a, b in pairs:
            before, after = reports[a], reports[b]
            reuse = (
                len(before.exhibited() & after.exhibited()) / len(before.exhibited())
                if before.exhibited()
                else 0.0
            )
            detections = after.detections
            adaptation = (
                sum(1 for d in detections if d.polarity > 0) / len(detections)
                if detections
                else 0.0
            )
            values.append((reuse + adaptation) / 2)
        scores["B-27"] = sum(values) / len(values)

    seen_mistakes: set[str] = set()
    later_mistakes = repeats = 0
    for i, report in enumerate(reports):
        mistakes = report.violated()
        if i > 0:
            later_mistakes += len(mistakes)
            repeats += len(mistakes & seen_mistakes)
        seen_mistakes |= mistakes
    if later_mistakes:
        scores["B-28"] = 1.0 - repeats / later_mistakes

    feedback = addressed = 0
    for a, b in pairs:
        for code in reports[a].violated():
            feedback += 1
            addressed += int(code in reports[b].exhibited() and code not in reports[b].violated())
    if feedback:
        scores["B-29"] = addressed / feedback

    gaps = [g for record in history for g in _confidence_gaps(record)]
    if gaps:
        scores["B-30"] = 1.0 - sum(gaps) / len(gaps)
    return scores
