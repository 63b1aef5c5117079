"""E-1.1: the product owner reveals hidden truth only to the right questions."""

from __future__ import annotations

from dojo.env import EpisodeSpec, make_episode
from dojo.env.episodes.elicitation import QUESTION_COST, REDUNDANT_COST, ElicitationEpisode


def _episode(seed: int = 11, difficulty: float = 0.6) -> ElicitationEpisode:
    episode = make_episode(EpisodeSpec(episode_type="E-1.1", seed=seed, difficulty=difficulty))
    assert isinstance(episode, ElicitationEpisode)
    episode.start()
    return episode


def test_constraint_revealed_only_when_its_dimension_is_asked() -> None:
    episode = _episode()
    story = episode.story
    target = story.constraints[0].category
    clean = next(
        d
        for d in (
            "data",
            "performance",
            "security",
            "compliance",
            "integration",
            "operations",
            "ux",
        )
        if story.constraint(d) is None
    )
    miss = episode.step(f"ask_question dimension={clean} | anything about {clean}?")
    assert [c.kind for c in miss.consequences] == ["answer_no_news"]
    assert miss.signals["B-01/implementation_change_rate"] == 0.0
    hit = episode.step(f"ask_question dimension={target} | anything about {target}?")
    assert hit.consequences[0].kind == "constraint_revealed"
    assert story.constraints[0].statement in hit.consequences[0].description
    assert hit.signals["B-03/discovered_early"] == 1.0
    assert any(k.startswith(f"constraint ({target})") for k in hit.observation.known)  # type: ignore[union-attr]


def test_redundant_question_costs_double_and_scores_zero() -> None:
    episode = _episode()
    first = episode.step("ask_question dimension=users")
    again = episode.step("ask_question dimension=users")
    assert first.consequences[0].cost == QUESTION_COST
    assert again.consequences[0].kind == "redundant_question"
    assert again.consequences[0].cost == REDUNDANT_COST
    assert again.signals["B-01/non_redundancy"] == 0.0


def test_po_leaves_after_three_strikes() -> None:
    episode = _episode()
    episode.step("ask_question dimension=users")
    results = [episode.step("ask_question dimension=users") for _ in range(3)]
    assert results[-1].done
    assert "stakeholder_left" in [c.kind for c in results[-1].consequences]
    assert results[-1].transition is None


def test_signal_ready_too_early_is_wrong_and_costs_rework() -> None:
    early = _episode()
    result = early.step("signal_ready | let's go")
    assert result.transition == "elicit_to_plan" and result.transition_correct is False
    assert "premature_ready" in [c.kind for c in result.consequences]

    thorough = _episode()
    story = thorough.story
    for dim in {*story.ambiguous, "scope", *(c.category for c in story.constraints)}:
        thorough.step(f"ask_question dimension={dim}")
    done = thorough.step("signal_ready")
    assert done.transition_correct is True
    assert thorough.outcome().signals["low_rework"] > early.outcome().signals["low_rework"]
    assert thorough.outcome().signals["story_accepted"] == 1.0


def test_anything_else_names_uncued_constraints_then_says_nothing_else() -> None:
    for seed in range(200):
        episode = _episode(seed, 0.9)
        uncued = [c.category for c in episode.story.constraints if not c.cued]
        if uncued:
            break
    got = [episode.step("ask_question dimension=other") for _ in uncued]
    assert [r.consequences[0].kind for r in got] == ["constraint_revealed"] * len(uncued)
    last = episode.step("ask_question dimension=other")
    assert last.consequences[0].kind == "completeness_confirmed"


def test_invalid_output_costs_time_and_never_crashes() -> None:
    episode = _episode()
    for raw in ("", "???", "ask_question dimension=moon", "signal_ready extra", "\x00\n\n"):
        result = episode.step(raw)
        assert result.move.name == "invalid_move"
        assert result.consequences[0].kind == "invalid_move"
        assert result.consequences[0].cost > 0
        assert result.signals == {}
