"""The judge's rubrics: one per behaviour that SPEC §3 scores with a judge (J) component.

A rubric names the behaviour's judge components and, for each, what the judge
asks, the anchors for 1.0 / 0.5 / 0.0, the red flags that cap a score, and when
the decision gives no evidence (the judge then abstains instead of guessing).

Component names are the join key with reward attribution: a verdict scores
``"<B-code>/<component>"`` (e.g. ``"B-08/justification"``), the same key shape
the simulator uses for its trace (T) and outcome (O) signals. Where SPEC §3
gives one line for several behaviours (B-16/17, B-18–20), every behaviour on
the line carries the line's judge components.

B-21..B-24 have no published weights; the choice here matches the reward
config (``dojo/reward/default.yaml``). B-22 gets ``specificity`` (can one
exchange answer the request) and B-23 ``rationale_quality`` (can a later reader
see why, and what was rejected): qualities only a reader can assess. B-21 and
B-24 get none: what they reward — a blocker raised early, accurate and to the
right people; the successor's velocity, coverage and order — is measured from
the trace and outcome, where a judge would add cost and noise, not signal.
B-02, B-03, B-05, B-06, B-10, B-11, B-12, B-25..B-30 have no judge component
either. Names never repeat a simulator component of the same behaviour.

Versions are content hashes: editing any wording changes the behaviour's
``version`` and the set's ``RUBRIC_SET_VERSION``, so cached verdicts graded
under old wording are never reused.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field


def content_version(text: str) -> str:
    """A short, stable content hash used as a version string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class ComponentRubric(BaseModel):
    """How one judge component is scored."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    question: str
    full: str
    partial: str
    zero: str
    red_flags: tuple[str, ...] = ()
    abstain_when: str

    def text(self, behaviour: str) -> str:
        lines = [
            f"### {behaviour}/{self.name}",
            f"Question: {self.question}",
            f"1.0 — {self.full}",
            f"0.5 — {self.partial}",
            f"0.0 — {self.zero}",
        ]
        lines += [f"Red flag (caps the score at 0.3): {flag}" for flag in self.red_flags]
        lines.append(f"Abstain (null) when: {self.abstain_when}")
        return "\n".join(lines)


class BehaviourRubric(BaseModel):
    """The rubric of one behaviour: what it is and its judge components."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^B-\d\d$")
    name: str
    focus: str
    components: tuple[ComponentRubric, ...] = Field(min_length=1)

    def text(self) -> str:
        header = f"## {self.code} {self.name}\n{self.focus}"
        return "\n\n".join([header, *(c.text(self.code) for c in self.components)])

    @property
    def version(self) -> str:
        return content_version(self.text())


_QUESTION_SPECIFICITY = ComponentRubric(
    name="question_specificity",
    question=(
        "Does the question target one concrete ambiguity of this task whose answer would "
        "change what gets built?"
    ),
    full=(
        "names the specific unknown (a field, an edge case, a boundary value, a user, a "
        "failure mode) taken from the task as given, and the plausible answers lead to "
        "different implementations; answerable in one reply."
    ),
    partial=(
        "on-topic and about a real gap, but broad, several questions bundled into one, or "
        "not tied to any implementation consequence."
    ),
    zero=(
        "a generic template ('any other requirements?', 'can you clarify?'), a question "
        "the task text already answers, or one unrelated to the work."
    ),
    red_flags=(
        "restates the task as a question",
        "a shopping list of questions fired at once",
    ),
    abstain_when="the decision is not a question or a request for an example.",
)

_QUESTION_COUNT_CALIBRATION = ComponentRubric(
    name="question_count_calibration",
    question=(
        "Given what is already known (the task and the earlier moves), is asking again — "
        "or stopping — the right call now?"
    ),
    full=(
        "asks because a material unknown still blocks a correct implementation, or stops "
        "(signals ready, states assumptions) when what remains is minor and covered by "
        "explicit assumptions; nothing asked twice."
    ),
    partial=(
        "defensible but off by one: a question more than needed on a minor point, or "
        "stopping with one material unknown covered only by an unstated assumption."
    ),
    zero=(
        "keeps asking after the essentials are settled, repeats an answered question, or "
        "signals ready while a material unknown is visibly open."
    ),
    red_flags=("a question whose answer is already in the history",),
    abstain_when="the move neither asks, states an assumption, nor signals readiness.",
)

_TESTABILITY = ComponentRubric(
    name="testability",
    question="Could someone verify from this task's description alone that it is done?",
    full=(
        "states an observable done-criterion (a test, a command and its expected output, "
        "an input/output behaviour) for one unit of work."
    ),
    partial="a verifiable outcome is implied but not stated, or stated vaguely ('works').",
    zero=(
        "describes an activity instead of an outcome ('look into X', 'refactor stuff'), or "
        "is too large to be verified as one unit."
    ),
    abstain_when="the move does not create, split or edit a task.",
)

_COMPARISON = ComponentRubric(
    name="comparison",
    question=(
        "Does the decision weigh more than one genuine approach on criteria that matter "
        "for this task?"
    ),
    full=(
        "at least two real alternatives compared on the task's actual drivers (risk, cost, "
        "time, reversibility, the constraints in the task), including where the preferred "
        "option is worse."
    ),
    partial=(
        "alternatives listed with generic pros and cons, compared on one criterion only, "
        "or one alternative is a strawman."
    ),
    zero="a single approach, or a 'comparison' that is only labels.",
    red_flags=("pros and cons that would fit any task",),
    abstain_when="the move neither proposes nor compares approaches.",
)

_JUSTIFICATION = ComponentRubric(
    name="justification",
    question="Is the chosen approach justified by the comparison and the task's constraints?",
    full=(
        "the choice follows from named constraints or evidence, and says what would make "
        "it the wrong choice."
    ),
    partial="a reason is given but generic ('simpler', 'best practice') or unconnected to constraints.",
    zero="no reason, or a reason that contradicts the stated constraints.",
    abstain_when="no approach is chosen or proposed.",
)

_HONESTY = ComponentRubric(
    name="honesty",
    question="Does the progress or status claim match the evidence visible in the trace?",
    full=(
        "progress reported consistently with the evidence (failing tests, open issues, "
        "slips), bad news included, uncertainty stated where evidence is thin."
    ),
    partial="broadly accurate but omits a visible problem or is mildly overconfident.",
    zero=(
        "claims done or on track against contrary evidence, hides a failure, or continues "
        "when the evidence calls for a pivot or escalation without acknowledging it."
    ),
    red_flags=("'all good' immediately after a visible failure",),
    abstain_when="the decision makes no claim about progress or state.",
)

_RESPONSE_MATCH = ComponentRubric(
    name="response_match",
    question=(
        "Is the chosen response (fix now, defer, escalate, communicate, investigate) "
        "proportionate to the severity and blast radius established so far?"
    ),
    full=(
        "matches the assessed severity and blast radius; investigates first when severity "
        "is unknown; escalates only what is beyond own authority or ability."
    ),
    partial="reasonable but mistimed (acts before the blast radius is known) or one level off.",
    zero=(
        "defers a critical user-facing issue, drops everything for a cosmetic one, or "
        "escalates something trivial."
    ),
    abstain_when="the move neither assesses nor responds to an incident.",
)

_PROPORTIONALITY = ComponentRubric(
    name="proportionality",
    question="Is the change to the plan proportional to the disruption?",
    full=(
        "changes exactly what the disruption invalidates, keeps unaffected work, and says "
        "what changes and why."
    ),
    partial="over- or under-reacts somewhat, or leaves what changes unstated.",
    zero=(
        "discards the plan wholesale for a local disruption, or ignores a disruption that "
        "invalidates the plan."
    ),
    abstain_when="the decision neither changes nor reaffirms the plan.",
)

_ROOT_CAUSE = ComponentRubric(
    name="root_cause",
    question="Does the analysis reach a cause that explains the incident, beyond the symptom?",
    full=(
        "a mechanism-level cause supported by evidence in the trace, distinguishing the "
        "trigger from the underlying cause."
    ),
    partial="a plausible cause without evidence, or stops at the proximate trigger.",
    zero=(
        "restates the symptom, blames vaguely ('human error', 'flaky'), or contradicts "
        "the evidence."
    ),
    abstain_when="the decision offers no diagnosis.",
)

_PREVENTION = ComponentRubric(
    name="prevention",
    question="Would the proposed follow-up prevent the recurrence, or catch it earlier?",
    full=(
        "a specific, verifiable change aimed at the root cause (a test, a guard, an alert, "
        "a process change) with an owner or a trigger."
    ),
    partial="the right direction but vague ('be more careful', 'add tests' without which).",
    zero="no follow-up, or one that only patches this instance.",
    abstain_when="the decision proposes no follow-up.",
)

_QUERY_SPECIFICITY = ComponentRubric(
    name="query_specificity",
    question="Is the search or fetch aimed at the specific information that is missing?",
    full=(
        "names the precise API, version, error or constraint needed; its result would "
        "close a stated gap."
    ),
    partial="topical but broad; would return mostly irrelevant material.",
    zero="generic or performative ('best practices'), or searches for what is already known.",
    red_flags=("research that no later decision could use",),
    abstain_when="the move is not a search, fetch or code search.",
)

_AUTHORITY = ComponentRubric(
    name="authority",
    question=(
        "Are the sources chosen or trusted appropriate: primary, current and authoritative "
        "for the claim they support?"
    ),
    full=(
        "prefers primary sources (official docs, specs, source code, changelogs) at the "
        "relevant version, checks recency, cross-checks secondary claims."
    ),
    partial="a reasonable secondary source, trusted without a check.",
    zero=(
        "relies on an outdated, unofficial or unverifiable source for a load-bearing "
        "claim, or ignores a version mismatch."
    ),
    abstain_when="no source is chosen, cited or relied on.",
)

_HOST_QUESTION_QUALITY = ComponentRubric(
    name="question_quality",
    question="Would this question to the host team make the newcomer productive fastest?",
    full=(
        "asks about conventions, ownership or gotchas that reading the code cannot reveal, "
        "specific to this codebase, and shows what was already read."
    ),
    partial="relevant, but answerable by reading the repository, or too broad.",
    zero="a generic onboarding question, or asks others to do the reading.",
    abstain_when="the decision is not a question.",
)

_HELP_SPECIFICITY = ComponentRubric(
    name="specificity",
    question="Is the help request specific enough to be answered in one exchange?",
    full=(
        "one precise question, grounded in what was tried and what was observed (the exact "
        "error, the command), so the helper has nothing to ask back."
    ),
    partial="a real question, but broad, or silent on what was tried or observed.",
    zero=(
        "'it doesn't work, help', or asks before any attempt for something the candidate "
        "could discover alone."
    ),
    abstain_when="the decision is not a request for help.",
)

_RATIONALE_QUALITY = ComponentRubric(
    name="rationale_quality",
    question="Could a later reader reconstruct what was decided, why, and what was rejected?",
    full=(
        "records the decision, its context and constraints, the alternatives rejected with "
        "reasons, and the consequences or the trigger to revisit it."
    ),
    partial="the decision and a reason, without alternatives or context.",
    zero="a bare statement of what was done.",
    abstain_when="no decision is recorded.",
)


def _rubric(code: str, name: str, focus: str, *components: ComponentRubric) -> BehaviourRubric:
    return BehaviourRubric(code=code, name=name, focus=focus, components=components)


_ORIENTATION_FOCUS = (
    "Orientation in a foreign codebase: the judge grades the questions the newcomer "
    "asks the host team (SPEC §3, B-18–20 question quality)."
)
_RESEARCH_FOCUS = (
    "Research: the judge grades how precisely the candidate searches and how "
    "critically it picks sources (SPEC §3, B-16/17)."
)

RUBRICS: dict[str, BehaviourRubric] = {
    r.code: r
    for r in (
        _rubric(
            "B-01",
            "Ambiguity detection",
            "Finding the ambiguities whose resolution changes the implementation.",
            _QUESTION_SPECIFICITY,
        ),
        _rubric(
            "B-04",
            "Sufficiency detection",
            "Asking as many questions as the ambiguity needs and no more. The judge grades "
            "the call to ask or stop; the simulator measures the count (SPEC §3, T+J).",
            _QUESTION_COUNT_CALIBRATION,
        ),
        _rubric(
            "B-07",
            "Appropriate granularity",
            "Tasks sized so that each is one verifiable unit of work.",
            _TESTABILITY,
        ),
        _rubric(
            "B-08",
            "Trade-off articulation",
            "Weighing more than one approach and choosing one that survives contact with the work.",
            _COMPARISON,
            _JUSTIFICATION,
        ),
        _rubric(
            "B-09",
            "Progress calibration",
            "Checkpoint calls (continue, pivot, escalate) grounded in honest progress reports.",
            _HONESTY,
        ),
        _rubric(
            "B-13",
            "Severity triage",
            "Responding to an incident in proportion to its severity and blast radius.",
            _RESPONSE_MATCH,
        ),
        _rubric(
            "B-14",
            "Graceful replanning",
            "Adjusting the plan in proportion to a disruption, keeping what still holds.",
            _PROPORTIONALITY,
        ),
        _rubric(
            "B-15",
            "Post-incident learning",
            "Finding the root cause and changing something so the incident does not recur.",
            _ROOT_CAUSE,
            _PREVENTION,
        ),
        _rubric(
            "B-16", "Search-strategy formulation", _RESEARCH_FOCUS, _QUERY_SPECIFICITY, _AUTHORITY
        ),
        _rubric("B-17", "Source evaluation", _RESEARCH_FOCUS, _QUERY_SPECIFICITY, _AUTHORITY),
        _rubric("B-18", "Codebase reconnaissance", _ORIENTATION_FOCUS, _HOST_QUESTION_QUALITY),
        _rubric("B-19", "Convention respect", _ORIENTATION_FOCUS, _HOST_QUESTION_QUALITY),
        _rubric(
            "B-20", "Context-acquisition efficiency", _ORIENTATION_FOCUS, _HOST_QUESTION_QUALITY
        ),
        _rubric(
            "B-22",
            "Help-request quality",
            "Asking for help so that one exchange resolves it. No published weights: "
            "Dojo-defined component.",
            _HELP_SPECIFICITY,
        ),
        _rubric(
            "B-23",
            "Decision documentation",
            "Leaving decisions traceable. No published weights: Dojo-defined component.",
            _RATIONALE_QUALITY,
        ),
    )
}

JUDGE_COMPONENTS: dict[str, tuple[str, ...]] = {
    code: tuple(c.name for c in rubric.components) for code, rubric in RUBRICS.items()
}
"""Behaviour code → names of its judge (J) components: the join table for reward attribution."""


def component_keys(behaviours: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The ``"<B-code>/<component>"`` keys a verdict on these behaviours must cover."""
    return tuple(f"{b}/{c}" for b in behaviours for c in JUDGE_COMPONENTS[b])


def rubric_text() -> str:
    """Every rubric, in code order."""
    return "\n\n".join(RUBRICS[c].text() for c in sorted(RUBRICS))


CALIBRATION_EXAMPLES = """\
# Calibration examples (how strict the anchors are meant to be)

- B-01/question_specificity, ask_question: "Any other requirements I should know about?"
  → 0.0. A stock phrase; it names no ambiguity of this task.
- B-01/question_specificity, ask_question: "For rows whose `deleted_at` is set, should the
  export include them, leave them out, or flag them in a column?" → 0.9. One concrete
  unknown from the task; each answer leads to different code.
- B-08, compare_approaches: "Option A: Postgres LISTEN/NOTIFY. Option B: Kafka. Kafka is more
  scalable, so B." → comparison 0.3 (one generic criterion, nothing from the task's own
  constraints), justification 0.2 ('more scalable' ignores the stated volume of 50 events a day).
- B-09/honesty, checkpoint_continue: "On track, all good." when the observation shows three
  failing tests → 0.0. A progress claim that contradicts the visible evidence.
- B-13/response_match, respond_defer after severity was assessed critical (checkout fails for
  every user) → 0.0. Deferring a critical, user-facing outage.
- B-15, write_postmortem: "Root cause: flaky test. We will be more careful." → root_cause 0.1
  (vague blame, no mechanism), prevention 0.0 (an exhortation is not a safeguard).
- B-22/specificity, ask_teammate: "Trying to run the migrations locally: `alembic upgrade
  head` fails with 'relation users already exists' right after `make db-reset`. Is there a
  seed step I am missing?" → 0.9. Goal, attempt, observation and one specific question.
- B-23/rationale_quality, record_decision: "Went with Redis." → 0.0. What was done, not why,
  and nothing on what was rejected.
- Any component, when the move does not attempt what it measures (e.g. B-08 on an
  ask_question move) → null, not 0 and not 0.5."""

RUBRIC_SET_VERSION = content_version(rubric_text() + CALIBRATION_EXAMPLES)
"""Content hash of every rubric's text and the calibration examples together."""
