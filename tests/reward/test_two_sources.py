"""A T+J component (SPEC §3: the simulator measures, the judge grades) uses both."""

from __future__ import annotations

import hashlib

import pytest

from dojo.reward import load_reward_config
from dojo.reward.attribution import behaviour_scores
from dojo.reward.weights import ATTRIBUTION_RULES

KEY = "B-04/question_count_calibration"


def b04(signals: dict[str, float], judge: dict[str, float]) -> tuple[float, list[str], list[str]]:
    scores, present, missing, ignored = behaviour_scores(signals, judge, load_reward_config())
    assert not ignored
    return scores["B-04"], present, missing


def test_the_config_weighs_question_count_calibration_as_t_plus_j() -> None:
    _, component = load_reward_config().signal_weights()[KEY]
    assert component.kind == "T+J"
    assert component.accepts(from_judge=True) and component.accepts(from_judge=False)


def test_t_plus_j_is_the_mean_of_measurement_and_grade() -> None:
    measured, present, missing = b04({KEY: 1.0}, {})
    assert measured == pytest.approx(1.0)
    assert present == [KEY]
    assert missing == [KEY]  # the judge's half was expected and is absent: said, not invented
    graded, present, missing = b04({}, {KEY: 0.0})
    assert graded == pytest.approx(0.0)
    assert present == [KEY] and missing == []
    both, present, missing = b04({KEY: 1.0}, {KEY: 0.0})
    assert both == pytest.approx(0.5)
    assert present == [KEY, KEY] and missing == []  # once per source


def test_other_components_weigh_the_same_with_or_without_the_grade() -> None:
    """The T+J component keeps its weight: a grade moves only its own value."""
    config = load_reward_config()
    other = next(
        k
        for k, (code, c) in config.signal_weights().items()
        if code == "B-04" and c.kind == "T" and c.weight > 0
    )
    w_tj, w_other = config.signal_weights()[KEY][1].weight, config.signal_weights()[other][1].weight
    score, _, _ = b04({KEY: 1.0, other: 0.0}, {KEY: 0.0})
    assert score == pytest.approx(0.5 * w_tj / (w_tj + w_other))


def test_reward_version_names_the_attribution_rules() -> None:
    config = load_reward_config()
    payload = f"{ATTRIBUTION_RULES}\n{config.canonical_json()}".encode()
    assert config.reward_version == f"r-{hashlib.sha256(payload).hexdigest()[:12]}"
    bare = hashlib.sha256(config.canonical_json().encode()).hexdigest()[:12]
    assert config.reward_version != f"r-{bare}"
