"""The offline heuristic judge: deterministic, rubric-driven, abstains where the rubric says."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dojo.env.moves import Move
from dojo.judge import (
    JUDGE_COMPONENTS,
    CachedJudge,
    InMemoryVerdictCache,
    JudgeRequest,
    OfflineJudge,
    Verdict,
    version_of,
)
from dojo.judge.offline import OFFLINE_RULES


def request(
    behaviours: tuple[str, ...],
    move: Move,
    *,
    observation: str = "Build the CSV export of orders.",
    history: tuple[Move, ...] = (),
) -> JudgeRequest:
    return JudgeRequest(
        decision_id="d",
        episode_id="e",
        episode_type="E-1.1",
        stage=1,
        behaviours=behaviours,
        observation=observation,
        completion=move.text,
        move=move,
        history=history,
    )


def scores(req: JudgeRequest) -> dict[str, float]:
    return OfflineJudge().judge_now(req).scores


def test_every_judge_component_has_a_rule() -> None:
    names = {c for comps in JUDGE_COMPONENTS.values() for c in comps}
    assert names == set(OFFLINE_RULES)


def test_specific_question_beats_stock_phrase() -> None:
    specific = Move(
        name="ask_question",
        text="Should orders with a null `shipped_at` be exported when the date range is empty?",
    )
    generic = Move(name="ask_question", text="Any other requirements?")
    high = scores(request(("B-01",), specific))["B-01/question_specificity"]
    low = scores(request(("B-01",), generic))["B-01/question_specificity"]
    assert high >= 0.7 and low <= 0.1


def test_components_the_move_does_not_attempt_abstain() -> None:
    verdict = OfflineJudge().judge_now(
        request(("B-01", "B-08"), Move(name="ask_question", text="Which CSV delimiter, ; or ,?"))
    )
    assert verdict.abstained == ("B-08/comparison", "B-08/justification")
    assert set(verdict.scores) == {"B-01/question_specificity"}


def test_invalid_moves_score_zero() -> None:
    verdict = OfflineJudge().judge_now(request(("B-08",), Move.invalid("empty output")))
    assert verdict.scores == {"B-08/comparison": 0.0, "B-08/justification": 0.0}


def test_repeated_question_is_penalised_for_sufficiency() -> None:
    earlier = Move(name="ask_question", text="Should archived orders be exported too?")
    repeat = Move(name="ask_question", text="Should archived orders also be exported?")
    fresh = Move(name="ask_question", text="Which timezone should the order dates use in the file?")
    history = (earlier,)
    assert (
        scores(request(("B-04",), repeat, history=history))["B-04/question_count_calibration"]
        == 0.1
    )
    assert (
        scores(request(("B-04",), fresh, history=history))["B-04/question_count_calibration"] > 0.5
    )
    ready = Move(name="signal_ready")
    assert scores(request(("B-04",), ready))["B-04/question_count_calibration"] == 0.2


def test_severity_response_match() -> None:
    assessed = (Move(name="assess_severity", args={"level": "critical"}),)
    fix = Move(name="respond_fix_now")
    defer = Move(name="respond_defer")
    key = "B-13/response_match"
    assert scores(request(("B-13",), fix, history=assessed))[key] == 1.0
    assert scores(request(("B-13",), defer, history=assessed))[key] == 0.0
    assert scores(request(("B-13",), defer))[key] == 0.3  # acted before assessing


def test_honesty_compares_the_claim_with_visible_trouble() -> None:
    trouble = "Sprint day 6. CI: 3 tests failing in test_export.py."
    upbeat = Move(name="checkpoint_continue", text="On track, all good.")
    candid = Move(
        name="checkpoint_continue", text="3 tests failing on timezone handling; fixing first."
    )
    key = "B-09/honesty"
    assert scores(request(("B-09",), upbeat, observation=trouble))[key] == 0.1
    assert scores(request(("B-09",), candid, observation=trouble))[key] == 0.9


def test_offline_judge_is_deterministic_and_order_blind() -> None:
    req = request(
        ("B-08",),
        Move(
            name="compare_approaches",
            text="Cron vs queue: the queue adds ops cost but retries failures; cron is simpler.",
        ),
    )
    judge = OfflineJudge()
    first, second = judge.judge_now(req), judge.judge_now(req, presentation="swapped")
    assert first.scores == second.scores and first.evidence == second.evidence


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted({m for r in OFFLINE_RULES.values() for m in r.moves} | {"noop"})),
    text=st.text(max_size=300),
    behaviours=st.lists(st.sampled_from(sorted(JUDGE_COMPONENTS)), min_size=1, max_size=4),
)
def test_any_text_yields_a_complete_verdict_in_range(
    name: str, text: str, behaviours: list[str]
) -> None:
    req = request(tuple(behaviours), Move(name=name, text=text))
    verdict = OfflineJudge().judge_now(req)
    assert isinstance(verdict, Verdict)
    assert set(verdict.scores) | set(verdict.abstained) == set(req.component_keys)
    assert all(0.0 <= s <= 1.0 for s in verdict.scores.values())


def test_authority_reads_what_the_observation_says_about_the_source() -> None:
    observation = (
        "Known so far:\n"
        "- found s1: the provider's official reference (2026), on pagination\n"
        "- found s2: a popular blog post (2019), on pagination\n"
        "- read s2: it explains the behaviour as of 2019, before the v3 release\n"
    )
    key = "B-17/authority"

    def authority(source: str) -> float:
        move = Move(name="synthesize", args={"source": source}, text="Cursor pagination, 100 max.")
        return scores(request(("B-17",), move, observation=observation))[key]

    assert authority("s1") >= 0.7
    assert authority("s2") <= 0.1
    searched = Move(name="search", args={"query": "pagination"})
    assert OfflineJudge().judge_now(request(("B-17",), searched)).abstained == (key,)


async def test_offline_verdicts_cache_like_any_other() -> None:
    cache = InMemoryVerdictCache()
    judge = CachedJudge(OfflineJudge(), cache)
    req = request(("B-01",), Move(name="ask_question", text="Which timezone do dates use?"))
    first, again = await judge.judge(req), await judge.judge(req)
    assert isinstance(first, Verdict) and isinstance(again, Verdict)
    assert not first.cached and again.cached and again.scores == first.scores
    assert first.judge_version == version_of(judge) == f"offline-heuristic@{judge.rubric_version}"
