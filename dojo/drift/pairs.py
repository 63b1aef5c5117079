"""Where the drift detector's pairs come from: a verdict next to what the heuristics said.

For each judge component the judge scored on a decision, the heuristic side is
the score of that component's behaviour computed from the simulator's own trace
and outcome signals alone (the reward config's weighted mean over the
non-judge components present, :func:`dojo.reward.behaviour_scores` with no
judge scores). A behaviour the simulator reported nothing for gives no pair:
there is nothing to compare with, and a made-up heuristic would be noise.
"""

from __future__ import annotations

from collections.abc import Mapping

from dojo.drift.models import ScorePair
from dojo.reward import RewardConfig, behaviour_scores


def heuristic_scores(signals: Mapping[str, float], config: RewardConfig) -> dict[str, float]:
    """Behaviour code -> its score from the simulator's signals only."""
    scores, _, _, _ = behaviour_scores(signals, {}, config)
    return scores


def score_pairs(
    *,
    decision_id: str,
    episode_type: str,
    signals: Mapping[str, float],
    judge_scores: Mapping[str, float],
    timestamp: float,
    config: RewardConfig,
) -> list[ScorePair]:
    """One pair per judge component scored, for behaviours the signals also scored."""
    heuristic = heuristic_scores(signals, config)
    pairs = []
    for component, score in sorted(judge_scores.items()):
        behaviour = component.split("/", 1)[0]
        if behaviour not in heuristic:
            continue
        pairs.append(
            ScorePair(
                decision_id=decision_id,
                episode_type=episode_type,
                component=component,
                judge=score,
                heuristic=heuristic[behaviour],
                timestamp=timestamp,
            )
        )
    return pairs
