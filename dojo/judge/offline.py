"""The offline judge: a deterministic heuristic stand-in, NOT a language model.

It needs no network and is the default judge. For each judge component it
applies a rule read off the component's rubric: which moves the component
grades (others abstain, as the rubric's abstain rule says), which textual cues
earn or cost credit (e.g. naming alternatives and weighing them on risk or
cost for ``B-08/comparison``), how much concreteness counts, and a cap for
stock phrases. Three components need the trace rather than the text alone and
use a small detector each (question repetition, severity vs response, progress
claim vs visible trouble), and source authority reads what the observation says
about the source the move names.

The rule table names the moves of the simulator's catalogue (``dojo.env``); a
component judged on a move outside its rule abstains.

What it cannot do: understand the text. A fluent answer that uses the cue
words without meaning them scores well here; a precise answer phrased without
them scores low. Treat its scores as a consistent baseline to train against
and to compare the language-model judge with (see ``dojo.drift``), not as a
reviewer's opinion.

Its rubric version hashes the rule table together with the rubric texts, so
changing either re-keys cached verdicts.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.env.moves import Move
from dojo.judge.request import JudgeRequest, canonical_json
from dojo.judge.result import JudgeFailure, Presentation, Verdict
from dojo.judge.rubrics import RUBRIC_SET_VERSION, content_version
from dojo.judge.sampling import SamplingConfig
from dojo.judge.textcues import is_generic, matches_any, overlap, specificity

Detector = Literal[
    "cues", "source_context", "question_novelty", "severity_match", "claim_vs_evidence"
]

# Detector logic is code, not data: bump this when it changes, so the version moves.
_DETECTOR_REVISION = "1"

_GENERIC_CAP = 0.1


class Cue(BaseModel):
    """Text that earns (or, with a negative weight, costs) credit when any pattern matches."""

    model_config = ConfigDict(frozen=True)

    label: str
    weight: float
    patterns: tuple[str, ...] = Field(min_length=1)


class OfflineRule(BaseModel):
    """How the offline judge scores one component."""

    model_config = ConfigDict(frozen=True)

    moves: tuple[str, ...] = Field(min_length=1, description="moves this component grades")
    base: float = 0.0
    specificity_weight: float = 0.0
    cues: tuple[Cue, ...] = ()
    detector: Detector = "cues"


def _cue(label: str, weight: float, *patterns: str) -> Cue:
    return Cue(label=label, weight=weight, patterns=patterns)


QUESTION_MOVES = ("ask_question", "request_example")
_TROUBLE = (
    r"\bfail",
    r"\berror",
    r"\bbroken\b",
    r"\bregress",
    r"\bblock",
    r"\bbug\b",
    r"\bflaky\b",
    r"\bbehind\b",
    r"\bslip",
)
_UPBEAT = (
    r"\bon track\b",
    r"\bdone\b",
    r"\bcomplete",
    r"\ball good\b",
    r"\bno issues\b",
    r"\bpassing\b",
)
_CANDOUR = (*_TROUBLE, r"\brisk", r"\bnot yet\b", r"\bunsure\b", r"\buncertain", r"\bissue")

OFFLINE_RULES: dict[str, OfflineRule] = {
    "question_specificity": OfflineRule(
        moves=QUESTION_MOVES,
        base=0.1,
        specificity_weight=0.6,
        cues=(
            _cue("asks one thing", 0.15, r"^[^?]*\?\s*$"),
            _cue(
                "names a case or boundary",
                0.15,
                r"\bif\b",
                r"\bwhen\b",
                r"\bedge\b",
                r"\bempty\b",
                r"\bnull\b",
                r"\bmax",
                r"\bmin",
                r"\blimit",
                r"\bexpected\b",
            ),
        ),
    ),
    "question_count_calibration": OfflineRule(
        moves=(*QUESTION_MOVES, "state_assumption", "signal_ready"),
        detector="question_novelty",
    ),
    "testability": OfflineRule(
        moves=("create_task",),
        base=0.1,
        specificity_weight=0.3,
        cues=(
            _cue(
                "states a check",
                0.35,
                r"\btest",
                r"\bverif",
                r"\bassert",
                r"\bexpect",
                r"\breturns?\b",
                r"\bdone when\b",
                r"\baccept",
            ),
            _cue(
                "names an observable output",
                0.25,
                r"\bstatus\b",
                r"\boutput",
                r"\b\d{3}\b",
                r"\bresponse",
                r"\berror message",
                r"\bexit code",
            ),
            _cue(
                "activity instead of outcome",
                -0.3,
                r"^\s*(look into|investigate|explore|research|work on)\b",
            ),
        ),
    ),
    "comparison": OfflineRule(
        moves=("propose_approach", "compare_approaches"),
        base=0.05,
        specificity_weight=0.2,
        cues=(
            _cue(
                "names alternatives",
                0.3,
                r"\bvs\.?\b",
                r"\bversus\b",
                r"\binstead of\b",
                r"\balternative",
                r"\boption [ab12]\b",
                r"\bwhereas\b",
                r"\bcompared? (to|with)\b",
            ),
            _cue(
                "weighs task drivers",
                0.3,
                r"\brisk",
                r"\bcost",
                r"\blatenc",
                r"\bcomplex",
                r"\bmaintain",
                r"\breversib",
                r"\bmigrat",
                r"\bdeadline",
                r"\bscal",
            ),
            _cue(
                "admits a downside", 0.15, r"\bbut\b", r"\bdownside", r"\bworse\b", r"\btrade-?off"
            ),
        ),
    ),
    "justification": OfflineRule(
        moves=("propose_approach", "compare_approaches", "choose_approach"),
        base=0.05,
        specificity_weight=0.2,
        cues=(
            _cue(
                "gives a reason", 0.3, r"\bbecause\b", r"\bsince\b", r"\bso that\b", r"\bdue to\b"
            ),
            _cue(
                "ties it to a constraint",
                0.3,
                r"\bconstraint",
                r"\brequire",
                r"\bdeadline",
                r"\bbudget",
                r"\bsla\b",
                r"\blatenc",
                r"\bcompatib",
                r"\bexisting\b",
            ),
            _cue(
                "says when it would be wrong",
                0.15,
                r"\bunless\b",
                r"\brevisit\b",
                r"\bwould switch\b",
                r"\bwrong if\b",
            ),
            _cue("generic reason", -0.2, r"\bbest practice", r"\bindustry standard"),
        ),
    ),
    "honesty": OfflineRule(
        moves=(
            "checkpoint_continue",
            "checkpoint_pivot",
            "checkpoint_escalate",
            "assess_progress",
            "assess_confidence",
        ),
        detector="claim_vs_evidence",
    ),
    "response_match": OfflineRule(
        moves=(
            "respond_fix_now",
            "respond_defer",
            "respond_escalate",
            "communicate",
            "investigate",
        ),
        detector="severity_match",
    ),
    "proportionality": OfflineRule(
        moves=("replan", "propose_replan", "negotiate", "checkpoint_pivot"),
        base=0.2,
        specificity_weight=0.2,
        cues=(
            _cue(
                "keeps unaffected work",
                0.25,
                r"\bkeep",
                r"\bunchanged\b",
                r"\bunaffected\b",
                r"\bstill\b",
                r"\bonly\b",
            ),
            _cue(
                "names what changes",
                0.25,
                r"\bmove\b",
                r"\bdrop\b",
                r"\bdefer",
                r"\bswap",
                r"\breplace",
                r"\bdescope",
                r"\bpostpone",
            ),
            _cue(
                "wholesale reset",
                -0.3,
                r"\bstart over\b",
                r"\bfrom scratch\b",
                r"\bscrap (the|everything)",
                r"\brewrite everything\b",
            ),
        ),
    ),
    "root_cause": OfflineRule(
        moves=("identify_issue", "hypothesize", "write_postmortem"),
        base=0.1,
        specificity_weight=0.3,
        cues=(
            _cue(
                "names a mechanism",
                0.35,
                r"\bbecause\b",
                r"\bcaused by\b",
                r"\broot cause\b",
                r"\bdue to\b",
                r"\bled to\b",
                r"\btriggered\b",
            ),
            _cue(
                "cites evidence",
                0.2,
                r"\blog",
                r"\btrace",
                r"\bstack",
                r"\bline \d+",
                r"\bcommit\b",
                r"\breproduc",
                r"\bdiff\b",
            ),
            _cue("vague blame", -0.3, r"\bhuman error\b", r"\bflaky\b", r"\bbad luck\b"),
        ),
    ),
    "prevention": OfflineRule(
        moves=("write_postmortem",),
        base=0.05,
        specificity_weight=0.3,
        cues=(
            _cue(
                "a concrete safeguard",
                0.4,
                r"\badd (a )?(regression )?test",
                r"\balert",
                r"\bmonitor",
                r"\bguard",
                r"\bvalidat",
                r"\blint",
                r"\brunbook",
                r"\bcanary",
            ),
            _cue(
                "an owner or trigger",
                0.2,
                r"\bowner\b",
                r"\bon (every|each)\b",
                r"\bbefore (each|every)\b",
            ),
            _cue(
                "an exhortation",
                -0.3,
                r"\bbe more careful\b",
                r"\bpay (more )?attention\b",
                r"\bremember to\b",
            ),
        ),
    ),
    "query_specificity": OfflineRule(
        moves=("search", "search_code", "fetch_doc", "research"),
        base=0.1,
        specificity_weight=0.6,
        cues=(
            _cue(
                "names a version or identifier",
                0.2,
                r"\bv?\d+\.\d+",
                r"\berror\b",
                r"\bexception\b",
                r"[a-z]+\.[a-z_]+\(",
            ),
            _cue(
                "performative topic",
                -0.3,
                r"\bbest practices?\b",
                r"\bhow to code\b",
                r"\btutorial\b",
            ),
            _cue("a catch-all query", -0.4, r"\bquery=general\b"),
        ),
    ),
    "authority": OfflineRule(
        moves=("fetch_doc", "synthesize"),
        detector="source_context",
        base=0.3,
        cues=(
            _cue(
                "a primary source",
                0.4,
                r"\bofficial\b",
                r"\bdocs?\b",
                r"\bdocumentation\b",
                r"\bspec",
                r"\brfc\b",
                r"\bchangelog",
                r"\brelease notes\b",
                r"\bsource code\b",
            ),
            _cue("our own working code", 0.3, r"\bour own code\b"),
            _cue("version-aware", 0.2, r"\bv?\d+\.\d+", r"\bversion\b", r"\bdeprecat"),
            _cue(
                "a weak source",
                -0.25,
                r"\bblog\b",
                r"\bforum\b",
                r"\btalk\b",
                r"\bstack ?overflow\b",
                r"\breddit\b",
            ),
            _cue("known to be outdated", -0.3, r"\boutdated\b", r"\bbefore the v\d+ release\b"),
        ),
    ),
    "question_quality": OfflineRule(
        moves=("ask_question", "ask_teammate", "ask_team"),
        base=0.1,
        specificity_weight=0.4,
        cues=(
            _cue(
                "codebase-specific",
                0.3,
                r"\bconvention",
                r"\bowns?\b",
                r"\bmaintain",
                r"\bwhy (does|is|do)\b",
                r"\bgotcha",
                r"\bpattern\b",
                r"\bnaming\b",
                r"\w/\w",
            ),
            _cue(
                "shows the reading done",
                0.2,
                r"\bi (read|saw|looked|noticed|found)\b",
                r"\w+\.(py|ts|js|go|rs|java|md|yaml|toml)\b",
                r"\breadme\b",
            ),
        ),
    ),
    "specificity": OfflineRule(
        moves=("ask_teammate", "checkpoint_escalate", "open_review"),
        base=0.05,
        specificity_weight=0.2,
        cues=(
            _cue(
                "states the goal", 0.2, r"\btrying to\b", r"\bgoal\b", r"\bi want\b", r"\bneed to\b"
            ),
            _cue(
                "says what was tried", 0.25, r"\btried\b", r"\bran\b", r"\bchecked\b", r"\battempt"
            ),
            _cue(
                "says what was observed", 0.15, r"\berror\b", r"\bfails?\b", r"\bgot\b", r"\boutput"
            ),
            _cue("asks a question", 0.15, r"\?"),
            _cue("a bare plea", -0.3, r"\bdoesn'?t work\b", r"^\s*help\b"),
        ),
    ),
    "rationale_quality": OfflineRule(
        moves=("record_decision",),
        base=0.05,
        specificity_weight=0.2,
        cues=(
            _cue(
                "records the decision",
                0.2,
                r"\bdecid",
                r"\bchose\b",
                r"\bwe will\b",
                r"\bgoing with\b",
            ),
            _cue("gives the why", 0.2, r"\bbecause\b", r"\bsince\b", r"\bdue to\b"),
            _cue(
                "names rejected alternatives",
                0.2,
                r"\binstead of\b",
                r"\brejected\b",
                r"\balternative",
                r"\bconsidered\b",
            ),
            _cue("a trigger to revisit", 0.15, r"\brevisit\b", r"\bconsequence", r"\bfollow-?up"),
        ),
    ),
}

OFFLINE_RUBRIC_VERSION = content_version(
    "\x00".join(
        [
            canonical_json({k: r.model_dump(mode="json") for k, r in OFFLINE_RULES.items()}),
            RUBRIC_SET_VERSION,
            _DETECTOR_REVISION,
        ]
    )
)

_SEVERITY_LEVELS = {
    "low": 0,
    "minor": 0,
    "sev4": 0,
    "medium": 1,
    "moderate": 1,
    "sev3": 1,
    "high": 2,
    "major": 2,
    "sev2": 2,
    "critical": 3,
    "sev1": 3,
}
# The severity range each response fits, lowest to highest level.
_RESPONSE_FITS = {
    "respond_fix_now": (2, 3),
    "respond_defer": (0, 1),
    "respond_escalate": (3, 3),
    "communicate": (1, 3),
}

Scored = tuple[float | None, str]


def _move_text(move: Move) -> str:
    # Arguments first, so that patterns anchored at the end of the text still see its end.
    return " ".join([*(f"{k}={v}" for k, v in move.args.items()), move.text]).strip()


def _clamp(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 4)


def _by_cues(rule: OfflineRule, text: str) -> Scored:
    score = rule.base + rule.specificity_weight * specificity(text)
    hits = []
    for cue in rule.cues:
        if matches_any(text, cue.patterns):
            score += cue.weight
            hits.append(cue.label)
    if is_generic(text):
        return min(_clamp(score), _GENERIC_CAP), "a stock phrase that fits any task"
    return _clamp(score), ("; ".join(hits) if hits else "no rubric cue present")


def _source_lines(request: JudgeRequest) -> str:
    """What the observation says about the source the move names (label, year, content)."""
    source = request.move.args.get("source")
    if source is None:
        return ""
    pattern = re.compile(rf"\b{re.escape(source)}: ([^\n]*)")
    return " ".join(pattern.findall(request.observation))


def _question_novelty(request: JudgeRequest, text: str) -> Scored:
    move = request.move
    asked = [m.text for m in request.history if m.name in QUESTION_MOVES]
    if move.name in QUESTION_MOVES:
        similarity = max((overlap(move.text, q) for q in asked), default=0.0)
        if similarity >= 0.6:
            return 0.1, "repeats an earlier question"
        return _clamp(0.4 + 0.6 * specificity(text) * (1 - similarity)), (
            f"a new question after {len(asked)} asked"
        )
    if move.name == "signal_ready":
        if not asked:
            return 0.2, "signals ready without having asked anything"
        stated = any(m.name == "state_assumption" for m in request.history)
        return (
            (0.8, "ready after questions and stated assumptions")
            if stated
            else (
                0.6,
                "ready after questions, no assumption stated",
            )
        )
    return _clamp(0.4 + 0.6 * specificity(text)), "states an assumption instead of asking"


def _severity_match(request: JudgeRequest) -> Scored:
    assessed = None
    for m in request.history:
        if m.name == "assess_severity":
            levels = [_SEVERITY_LEVELS[v] for v in m.args.values() if v in _SEVERITY_LEVELS]
            assessed = levels[-1] if levels else assessed
    name = request.move.name
    if name == "investigate":
        return (
            (0.8, "investigates before severity is known")
            if assessed is None
            else (
                0.5,
                "investigates further after assessing severity",
            )
        )
    if assessed is None:
        return 0.3, "responds before assessing severity"
    low, high = _RESPONSE_FITS[name]
    distance = 0 if low <= assessed <= high else min(abs(assessed - low), abs(assessed - high))
    score = {0: 1.0, 1: 0.5}.get(distance, 0.0)
    return score, f"{name} after severity level {assessed} (fits {low}–{high})"


def _claim_vs_evidence(request: JudgeRequest, text: str) -> Scored:
    trouble = matches_any(request.observation, _TROUBLE)
    upbeat = request.move.name == "checkpoint_continue" or matches_any(text, _UPBEAT)
    candid = request.move.name in ("checkpoint_pivot", "checkpoint_escalate") or matches_any(
        text, _CANDOUR
    )
    if trouble and upbeat and not candid:
        return 0.1, "claims progress against visible trouble"
    if trouble and candid:
        return 0.9, "acknowledges the visible trouble"
    if upbeat:
        return 0.8, "a positive claim with no visible trouble"
    if candid:
        return 0.6, "raises trouble the observation does not show"
    return 0.5, "a claim that neither matches nor contradicts the evidence"


class OfflineJudge:
    """The heuristic judge; see the module docstring for what it is and is not."""

    judge_model = "offline-heuristic"
    rubric_version = OFFLINE_RUBRIC_VERSION

    def __init__(self, sampling: SamplingConfig | None = None) -> None:
        self._sampling = sampling or SamplingConfig()

    @property
    def sampling(self) -> SamplingConfig:
        return self._sampling

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure:
        return self.judge_now(request, presentation=presentation)

    def judge_now(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict:
        """The same judgement, synchronously (the heuristic never waits on anything)."""
        scores: dict[str, float] = {}
        abstained: list[str] = []
        evidence: dict[str, str] = {}
        for key in request.component_keys:
            score, why = self._score(key.split("/", 1)[1], request)
            evidence[key] = why
            if score is None:
                abstained.append(key)
            else:
                scores[key] = score
        return Verdict(
            content_hash=request.content_hash(),
            judge_model=self.judge_model,
            rubric_version=self.rubric_version,
            scores=scores,
            abstained=tuple(abstained),
            evidence=evidence,
            rationale=(
                "Offline heuristic judge (rule table over the move, its text and the trace; "
                "not a language model)."
            ),
            presentation=presentation,
            attempts=0,
        )

    @staticmethod
    def _score(component: str, request: JudgeRequest) -> Scored:
        move = request.move
        if not move.valid:
            return 0.0, f"invalid move: {move.error}"
        rule = OFFLINE_RULES[component]
        if move.name not in rule.moves:
            return None, f"{move.name} is not a move this component grades"
        text = _move_text(move)
        if rule.detector == "question_novelty":
            return _question_novelty(request, text)
        if rule.detector == "severity_match":
            return _severity_match(request)
        if rule.detector == "claim_vs_evidence":
            return _claim_vs_evidence(request, text)
        if rule.detector == "source_context":
            return _by_cues(rule, f"{_source_lines(request)} {text}")
        return _by_cues(rule, text)
