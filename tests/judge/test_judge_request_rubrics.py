"""The request model, its content hash, the component table, rubric versions, verdict parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from judge_fakes import make_request, verdict_text
from pydantic import ValidationError

from dojo.env.moves import Move
from dojo.judge import JUDGE_COMPONENTS, RUBRICS, JudgeRequest, Verdict, component_keys
from dojo.judge.prompt import MalformedVerdict, parse_verdict, user_message
from dojo.judge.rubrics import BehaviourRubric

REWARD_CONFIG = Path(__file__).resolve().parents[2] / "dojo" / "reward" / "default.yaml"

# SPEC §3, every J component, read off the spec by hand; B-22/B-23 as dojo/reward/default.yaml.
SPEC_J_COMPONENTS = {
    "B-01": ("question_specificity",),
    "B-04": ("question_count_calibration",),
    "B-07": ("testability",),
    "B-08": ("comparison", "justification"),
    "B-09": ("honesty",),
    "B-13": ("response_match",),
    "B-14": ("proportionality",),
    "B-15": ("root_cause", "prevention"),
    "B-16": ("query_specificity", "authority"),
    "B-17": ("query_specificity", "authority"),
    "B-18": ("question_quality",),
    "B-19": ("question_quality",),
    "B-20": ("question_quality",),
    "B-22": ("specificity",),
    "B-23": ("rationale_quality",),
}


def test_component_table_matches_the_spec() -> None:
    assert JUDGE_COMPONENTS == SPEC_J_COMPONENTS
    assert component_keys(["B-08", "B-01"]) == (
        "B-08/comparison",
        "B-08/justification",
        "B-01/question_specificity",
    )


def test_judge_components_join_the_reward_config() -> None:
    """Every judge key is a J (or T+J) component of the reward config, and vice versa."""
    config = yaml.safe_load(REWARD_CONFIG.read_text())
    judged = {
        f"{code}/{name}"
        for code, components in config["behaviours"].items()
        for name, component in components.items()
        if "J" in component["kind"]
    }
    assert set(component_keys(list(JUDGE_COMPONENTS))) == judged


def test_content_hash_covers_what_the_judge_sees_and_nothing_else() -> None:
    base = make_request("d-1")
    same_content = make_request("d-2", episode_id="ep-other")
    other_text = make_request("d-1", text="Just use a cron job.")
    assert base.content_hash() == same_content.content_hash()
    assert base.content_hash() != other_text.content_hash()
    assert base.content_hash() != base.model_copy(update={"stage": 2}).content_hash()
    assert "decision_id" not in base.judged_content()


def test_behaviours_are_normalised_and_checked() -> None:
    request = make_request(behaviours=("B-08", "B-01", "B-08"))
    assert request.behaviours == ("B-01", "B-08")
    assert make_request(behaviours=("B-01", "B-08")).content_hash() == request.content_hash()
    with pytest.raises(ValidationError, match="no judge components for B-02"):
        make_request(behaviours=("B-02",))


def test_request_rejects_unknown_fields_and_bad_episode_types() -> None:
    fields = make_request().model_dump()
    with pytest.raises(ValidationError):
        JudgeRequest(**{**fields, "episode_type": "E-9.9"})
    with pytest.raises(ValidationError):
        JudgeRequest(**{**fields, "score_hint": 1.0})


def test_rubric_versions_are_content_hashes() -> None:
    rubric = RUBRICS["B-08"]
    reworded = BehaviourRubric(
        code=rubric.code,
        name=rubric.name,
        focus=rubric.focus + " Strictly.",
        components=rubric.components,
    )
    assert reworded.version != rubric.version
    assert BehaviourRubric(**rubric.model_dump()).version == rubric.version
    assert len({r.version for r in RUBRICS.values()}) == len(RUBRICS)


def test_swapped_presentation_reverses_sections_and_components() -> None:
    request = make_request()
    canonical, swapped = user_message(request), user_message(request, "swapped")
    assert canonical.index("<observation>") < canonical.index("<facts>")
    assert swapped.index("<facts>") < swapped.index("<observation>")
    assert canonical.index("B-08/comparison") < canonical.index("B-08/justification")
    assert swapped.index("B-08/justification") < swapped.index("B-08/comparison")


def test_history_is_capped_and_invalid_moves_are_shown_as_such() -> None:
    history = tuple(Move(name="ask_question", text=f"question {i}") for i in range(25))
    request = make_request().model_copy(
        update={"history": history, "move": Move.invalid("empty output")}
    )
    text = user_message(request)
    assert "(5 earlier moves omitted)" in text and "25. ask_question | question 24" in text
    assert "invalid move (empty output)" in text


def test_parse_verdict_accepts_fences_and_null_as_abstention() -> None:
    text = (
        "```json\n" + verdict_text({"B-08/comparison": 0.6, "B-08/justification": None}) + "\n```"
    )
    parsed = parse_verdict(text, ("B-08/comparison", "B-08/justification"))
    assert parsed.scores == {"B-08/comparison": 0.6}
    assert parsed.abstained == ("B-08/justification",)


def test_parse_verdict_rejects_repeats_and_extra_fields() -> None:
    keys = ("B-08/comparison", "B-08/justification")
    repeated = json.dumps(
        {
            "scores": [
                {"component": "B-08/comparison", "score": 0.1, "evidence": ""},
                {"component": "B-08/comparison", "score": 0.2, "evidence": ""},
                {"component": "B-08/justification", "score": 0.2, "evidence": ""},
            ],
            "rationale": "",
        }
    )
    with pytest.raises(MalformedVerdict, match="repeated: B-08/comparison"):
        parse_verdict(repeated, keys)
    extra = json.loads(verdict_text({k: 0.5 for k in keys}))
    extra["confidence"] = 0.9
    with pytest.raises(MalformedVerdict, match="confidence"):
        parse_verdict(json.dumps(extra), keys)


def test_verdict_scores_must_lie_in_the_unit_interval() -> None:
    with pytest.raises(ValidationError, match="outside"):
        Verdict(
            content_hash="h",
            judge_model="m",
            rubric_version="r",
            scores={"B-01/question_specificity": 1.2},
            rationale="",
        )


def test_results_round_trip_through_json() -> None:
    verdict = Verdict(
        content_hash="h",
        judge_model="m",
        rubric_version="r",
        scores={"B-01/question_specificity": 0.25},
        rationale="x",
    )
    again = Verdict.model_validate_json(verdict.model_dump_json())
    assert again == verdict and again.judge_version == "m@r"
