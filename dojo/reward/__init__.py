"""The reward function: versioned weights (``default.yaml``) and pure per-decision attribution.

No Kafka here: the attribution stream processor, replay re-scoring and the
gymnasium envs all call the same functions.
"""

from dojo.reward.attribution import (
    DecisionRecord,
    DecisionReward,
    EpisodeReward,
    attribute_episode,
    behaviour_scores,
    meta_reward,
    outcome_score,
    reward_decision,
)
from dojo.reward.weights import (
    DEFAULT_CONFIG,
    RewardConfig,
    component_rows,
    load_reward_config,
    outcome_rows,
    reward_config_from_dict,
    stage_rows,
    transition_rows,
)

__all__ = [
    "DEFAULT_CONFIG",
    "DecisionRecord",
    "DecisionReward",
    "EpisodeReward",
    "RewardConfig",
    "attribute_episode",
    "behaviour_scores",
    "component_rows",
    "load_reward_config",
    "meta_reward",
    "outcome_rows",
    "outcome_score",
    "reward_config_from_dict",
    "reward_decision",
    "stage_rows",
    "transition_rows",
]
