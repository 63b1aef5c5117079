"""AAT's behaviour codes and episode types, translated into Dojo's canonical ones.

AAT labels its own behaviours B-01 … B-30, but they are *different* behaviours
from Dojo's taxonomy (SPEC §2): AAT B-04 is "estimate story points", Dojo B-04
is sufficiency detection. Nothing from AAT may pass through under its own label.
:data:`AAT_CODE_MAP` is the explicit table, one row per AAT code, matched by
meaning (AAT's name and description against Dojo's behaviour and its proxy):

* ``fit="same"`` — the AAT behaviour is the Dojo behaviour, or its core;
* ``fit="partial"`` — it is one component of the Dojo behaviour (the note says
  which), so it may count as evidence but never as the whole measurement;
* ``dojo_code=None`` — Dojo's taxonomy has no such behaviour. These are
  dropped, never forced onto the nearest code: B-04 (story-point estimation),
  B-07 (test-first), B-09 (incremental commits), B-23 (introducing oneself at
  stand-up), B-25 (negotiating an interface contract).

AAT's episode type names map one to one onto Dojo's 13 types
(:data:`AAT_EPISODE_TYPES`, each type's ``aat_name`` in :mod:`dojo.env.registry`);
the stages differ (AAT puts research in stage 2 and knowledge handoff in stage 3),
and Dojo's stage wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dojo.env import registry
from dojo.env.registry import LiveTable

Fit = Literal["same", "partial"]


class CodeMapping(BaseModel):
    """One row of the table: an AAT code and the Dojo code it stands for, if any."""

    model_config = ConfigDict(frozen=True)

    aat_code: str
    aat_name: str
    dojo_code: str | None
    fit: Fit | None
    note: str = ""


def _row(
    aat: str, name: str, dojo: str | None, fit: Fit | None = None, note: str = ""
) -> CodeMapping:
    return CodeMapping(aat_code=aat, aat_name=name, dojo_code=dojo, fit=fit, note=note)


AAT_CODE_MAP: dict[str, CodeMapping] = {
    m.aat_code: m
    for m in (
        _row("B-01", "ask_clarifying_question", "B-01", "same", "ambiguity detection"),
        _row(
            "B-02",
            "identify_missing_acceptance_criteria",
            "B-02",
            "partial",
            "pinning down what done means is part of scope-boundary probing",
        ),
        _row(
            "B-03",
            "propose_story_split",
            "B-07",
            "partial",
            "splitting a story is one way to reach the right granularity",
        ),
        _row("B-04", "estimate_story_points", None, note="Dojo does not score estimation"),
        _row(
            "B-05", "identify_technical_dependencies", "B-06", "same", "dependency identification"
        ),
        _row("B-06", "create_subtasks", "B-07", "same", "appropriate granularity"),
        _row("B-07", "write_test_first", None, note="Dojo does not score test-first order"),
        _row("B-08", "follow_coding_conventions", "B-19", "same", "convention respect"),
        _row("B-09", "commit_incrementally", None, note="Dojo does not score commit size"),
        _row(
            "B-10",
            "run_tests_before_commit",
            "B-10",
            "partial",
            "running the tests is how a failure is detected: the detection-speed part",
        ),
        _row(
            "B-11",
            "request_review_at_checkpoint",
            "B-09",
            "partial",
            "a checkpoint taken; whether its call was right is the rest of B-09",
        ),
        _row("B-12", "search_for_prior_art", "B-16", "same", "search-strategy formulation"),
        _row(
            "B-13",
            "prototype_before_commit",
            "B-05",
            "partial",
            "the spike component of risk-first ordering",
        ),
        _row("B-14", "document_spike_findings", "B-23", "same", "decision documentation"),
        _row("B-15", "prioritize_by_severity", "B-13", "same", "severity triage"),
        _row(
            "B-16",
            "communicate_impact_assessment",
            "B-21",
            "partial",
            "status transparency; the impact itself is B-13's blast radius",
        ),
        _row("B-17", "diagnose_root_cause", "B-11", "same", "error-diagnosis quality"),
        _row(
            "B-18",
            "apply_minimal_fix",
            "B-11",
            "partial",
            "the single-change component of error diagnosis",
        ),
        _row(
            "B-19",
            "add_regression_test",
            "B-15",
            "partial",
            "prevention, one part of post-incident learning",
        ),
        _row("B-20", "renegotiate_scope", "B-14", "same", "graceful replanning"),
        _row(
            "B-21",
            "update_backlog_priority",
            "B-14",
            "partial",
            "re-prioritising is one part of replanning",
        ),
        _row("B-22", "read_team_conventions", "B-18", "same", "codebase reconnaissance"),
        _row("B-23", "introduce_self_at_standup", None, note="Dojo does not score introductions"),
        _row("B-24", "declare_dependency", "B-06", "same", "cross-team dependency identification"),
        _row(
            "B-25",
            "negotiate_interface_contract",
            None,
            note="Dojo does not score contract negotiation",
        ),
        _row("B-26", "write_handoff_document", "B-24", "same", "knowledge-gap handoff"),
        _row("B-27", "pair_with_successor", "B-24", "same", "knowledge-gap handoff"),
        _row(
            "B-28",
            "mentor_new_member",
            "B-22",
            "partial",
            "answering a newcomer in one exchange; onboarding also trains B-20",
        ),
        _row("B-29", "share_tacit_knowledge", "B-24", "same", "knowledge-gap handoff"),
        _row("B-30", "cover_departed_role", "B-14", "same", "replanning after a departure"),
    )
}

UNMAPPED_AAT_CODES: tuple[str, ...] = tuple(
    code for code, m in AAT_CODE_MAP.items() if m.dojo_code is None
)

#: Dojo episode type -> AAT's name for it, from each type's registry record (``aat_name``)
AAT_EPISODE_TYPES: Mapping[str, str] = registry.column(lambda t: t.aat_name)
#: AAT's name -> Dojo episode type
DOJO_EPISODE_TYPES: Mapping[str, str] = LiveTable(
    lambda: {aat: dojo for dojo, aat in AAT_EPISODE_TYPES.items()}
)

_NO_DEVELOPMENT = (
    "AAT's EpisodeRunner builds its sprint with sprint_duration(0), so run_development's "
    "day ends as it starts and _run_day_pairing_sessions never runs a pairing session "
    "(no agent generates)"
)
#: the types in which AAT (commit 1925845) gives the candidate nothing to do, and why,
#: from its code: their phases are development and QA review only, and neither asks
#: the candidate anything. Every other type asks it in planning (a clarifying question
#: per story refined) or in the retro (KEEP/DROP/PUZZLE).
CANDIDATE_IDLE_TYPES: dict[str, str] = {
    "E-1.3": f"phases: development. {_NO_DEVELOPMENT}; with no planning phase the board "
    "is empty besides",
    "E-1.4": f"phases: development, qa_review. {_NO_DEVELOPMENT}; run_qa_review asks only "
    "the QA lead, once per card in review, and no card reaches review",
    "E-2.2": f"phases: development, qa_review. {_NO_DEVELOPMENT}; run_qa_review asks only "
    "the QA lead, once per card in review, and no card reaches review",
}


class MappedCodes(BaseModel):
    """AAT codes translated: the Dojo codes they stand for, and those with no Dojo meaning."""

    model_config = ConfigDict(frozen=True)

    dojo: tuple[str, ...]
    unmapped: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    """Codes the table does not know (a newer AAT): reported, never guessed."""


def map_code(aat_code: str) -> str | None:
    """The Dojo code an AAT code stands for; ``None`` when it has no Dojo meaning.

    Raises ``KeyError`` for a code the table does not know.
    """
    return AAT_CODE_MAP[aat_code].dojo_code


def map_codes(aat_codes: list[str] | tuple[str, ...]) -> MappedCodes:
    """Translate a list of AAT codes (duplicates collapse; Dojo codes come sorted)."""
    dojo: set[str] = set()
    unmapped: list[str] = []
    unknown: list[str] = []
    for code in dict.fromkeys(aat_codes):
        row = AAT_CODE_MAP.get(code)
        if row is None:
            unknown.append(code)
        elif row.dojo_code is None:
            unmapped.append(code)
        else:
            dojo.add(row.dojo_code)
    return MappedCodes(dojo=tuple(sorted(dojo)), unmapped=tuple(unmapped), unknown=tuple(unknown))
