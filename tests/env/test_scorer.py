"""The behavioural scorer reads moves and consequences, never prompt text."""

from __future__ import annotations

import random
import statistics

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env.moves import TEXT_SEPARATOR
from dojo.env.protocol import Observation
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import Trace, play
from dojo.env.scorer import KIND_BEHAVIOURS, EpisodeRecord, detect, meta_scores, score_trace

ALL_CODES = {f"B-{i:02d}" for i in range(1, 31)}
# AAT's keyword scorer matches words like these in prompts (SPEC §8); they must change nothing
BAIT = [
    "clarify",
    "ambiguous",
    "question",
    "root",
    "cause",
    "severity",
    "blast",
    "radius",
    "convention",
    "dependency",
    "checkpoint",
    "review",
    "spike",
    "findings",
    "handoff",
    "mentor",
    "prior",
    "art",
    "search",
    "impact",
    "escalate",
]


def _trace(episode_type: str, policy: str, seed: int) -> Trace:
    spec = EpisodeSpec(episode_type=episode_type, seed=seed, difficulty=(seed % 10) / 10)
    return play(spec, make_reference_policy(policy, seed))


def test_the_table_is_exactly_what_the_simulator_emits() -> None:
    emitted = {
        c.kind
        for t in EPISODE_TYPES
        for p in ("random", "junior", "senior")
        for s in range(40)
        for step in _trace(t, p, s).steps
        for c in step.consequences
    }
    # emitted elsewhere: stepping a finished episode
    assert emitted | {"episode_over"} == set(KIND_BEHAVIOURS)
    evidenced = {code for row in KIND_BEHAVIOURS.values() for code, _ in row}
    # B-27..B-29 are cross-episode: meta_scores measures them
    assert evidenced | {"B-27", "B-28", "B-29"} == ALL_CODES


class _Reworded:
    """The wrapped policy's moves, with free text of the same length made of other words."""

    def __init__(self, inner: object, seed: int) -> None:
        self.inner = inner
        self.rng = random.Random(seed)

    def decide(self, observation: Observation) -> str:
        completion: str = self.inner.decide(observation)  # type: ignore[attr-defined]
        head, sep, text = completion.partition(TEXT_SEPARATOR)
        if not sep:
            return completion
        words = [self.rng.choice(BAIT) for _ in text.split()]
        return f"{head}{sep}{' '.join(words)}"


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_same_moves_with_other_wording_give_the_same_detections(episode_type: str) -> None:
    for seed in range(4):
        spec = EpisodeSpec(episode_type=episode_type, seed=seed, difficulty=0.6)
        plain = play(spec, make_reference_policy("senior", seed))
        reworded = play(spec, _Reworded(make_reference_policy("senior", seed), seed))
        assert [s.move.name for s in plain.steps] == [s.move.name for s in reworded.steps]
        assert [s.move.args for s in plain.steps] == [s.move.args for s in reworded.steps]
        assert plain.completions != reworded.completions
        assert detect(plain.steps) == detect(reworded.steps)
        # and the prompts the candidate saw: rewrite them all, full of bait
        baited = [
            s.model_copy(
                update={
                    "observation": None
                    if s.observation is None
                    else s.observation.model_copy(update={"text": " ".join(BAIT) * 3})
                }
            )
            for s in plain.steps
        ]
        assert score_trace(baited) == score_trace(plain.steps)


def test_keyword_bait_alone_is_never_a_detection() -> None:
    spec = EpisodeSpec(episode_type="E-1.1", seed=1)

    class Babbler:
        def decide(self, observation: Observation) -> str:
            return " ".join(BAIT)  # all the right words, no move

    trace = play(spec, Babbler())
    assert all(s.move.name == "invalid_move" for s in trace.steps)
    assert detect(trace.steps) == []


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_seniors_show_fewer_violations_than_random_play(episode_type: str) -> None:
    def violations(policy: str) -> float:
        return statistics.fmean(
            len(score_trace(_trace(episode_type, policy, 300 + s).steps).violated())
            for s in range(12)
        )

    assert violations("senior") < violations("random")


def _record(episode_type: str, policy: str, seed: int) -> EpisodeRecord:
    return EpisodeRecord(episode_type=episode_type, steps=_trace(episode_type, policy, seed).steps)


def test_meta_scores_measure_cross_episode_behaviour() -> None:
    assert meta_scores([]) == {}
    # junior elicitations that signal too early (seeds checked to violate B-04)
    stuck = [_record("E-1.1", "junior", s) for s in (1, 2, 3, 5)]
    assert all(score_trace(r.steps).violated() == {"B-04"} for r in stuck)
    learns = [stuck[0], *[_record("E-1.1", "senior", s) for s in (2, 3, 5)]]
    a, b = meta_scores(stuck), meta_scores(learns)
    assert a["B-28"] == 0.0, "the same mistake every time"
    assert a["B-29"] == 0.0, "feedback never addressed"
    assert b["B-29"] == 1.0, "addressed in the next episode of the type"
    assert "B-28" not in b, "no later mistakes: unmeasurable, so absent"
    assert 0.0 <= a["B-27"] <= 1.0 and b["B-27"] > a["B-27"]


def test_confidence_calibration_compares_stated_confidence_with_being_right() -> None:
    def record(level: str, call: str, seed: int) -> EpisodeRecord:
        from dojo.env import make_episode

        episode = make_episode(EpisodeSpec(episode_type="E-1.4", seed=seed))
        episode.start()
        steps = (episode.step(f"assess_confidence level={level}"), episode.step(call))
        return EpisodeRecord(episode_type="E-1.4", steps=steps)

    from dojo.env.scenario import generate_scenario

    seed = next(s for s in range(200) if generate_scenario(s, 0.5).checkpoint.verdict == "pivot")
    calibrated = meta_scores([record("high", "checkpoint_pivot", seed)])["B-30"]
    overconfident = meta_scores([record("high", "checkpoint_continue", seed)])["B-30"]
    humble = meta_scores([record("low", "checkpoint_continue", seed)])["B-30"]
    assert calibrated > humble > overconfident
