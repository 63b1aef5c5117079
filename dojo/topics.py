"""The one table of Dojo's Kafka topics: names, partitions, keys, retention, contents.

Everything else — topic creation at start-up, Faust topic declarations, the
compose file and the Kubernetes manifests — is derived from or checked against
this table.

Topics whose events belong to one episode share the key ``episode_id`` and the
same partition count, so they are co-partitioned: a processor sees an episode's
decisions, rewards and verdicts on the same partition number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DAY_MS = 24 * 3600 * 1000


class Topic(StrEnum):
    EPISODES = "episodes"
    REWARDS = "rewards"
    VERDICTS = "verdicts"
    TRAJECTORIES = "trajectories"
    DRIFT = "drift"
    POLICY = "policy"
    LEARNER = "learner"
    EVALS = "evals"
    DEAD_LETTERS = "deadletters"


@dataclass(frozen=True)
class TopicSpec:
    topic: Topic
    partitions: int
    key: str | None
    retention_ms: int
    events: tuple[str, ...]
    description: str

    def name(self, prefix: str) -> str:
        return f"{prefix}.{self.topic.value}"


EPISODE_PARTITIONS = 4

TOPICS: dict[Topic, TopicSpec] = {
    spec.topic: spec
    for spec in (
        TopicSpec(
            Topic.EPISODES,
            EPISODE_PARTITIONS,
            "episode_id",
            # the raw history: kept long enough to rebuild the store and replay
            30 * DAY_MS,
            (
                "EpisodeStarted",
                "PhaseStarted",
                "DecisionMade",
                "PhaseCompleted",
                "EpisodeCompleted",
            ),
            "every phase and decision of every episode, from environment workers",
        ),
        TopicSpec(
            Topic.REWARDS,
            EPISODE_PARTITIONS,
            "episode_id",
            30 * DAY_MS,
            ("DecisionRewarded",),
            "reward vectors per decision and reward_version",
        ),
        TopicSpec(
            Topic.VERDICTS,
            EPISODE_PARTITIONS,
            "episode_id",
            30 * DAY_MS,
            ("JudgeVerdict", "JudgeFailed"),
            "judge verdicts and recorded judge failures",
        ),
        TopicSpec(
            Topic.TRAJECTORIES,
            EPISODE_PARTITIONS,
            "episode_id",
            7 * DAY_MS,
            ("TrajectoryScored",),
            "scored episodes, ready for the learner",
        ),
        TopicSpec(
            Topic.DRIFT,
            1,
            "behaviour",
            30 * DAY_MS,
            ("DriftWindow", "DriftAlert"),
            "reward-calibration drift windows and alerts",
        ),
        TopicSpec(
            Topic.POLICY,
            1,
            None,
            365 * DAY_MS,
            ("PolicyVersionPublished",),
            "new policy versions for environment workers to hot-load",
        ),
        TopicSpec(
            Topic.LEARNER,
            1,
            None,
            30 * DAY_MS,
            ("LearnerUpdated",),
            "the learner's updates: loss terms, KL, entropy, lag, idle ratio, trajectories used",
        ),
        TopicSpec(
            Topic.EVALS,
            1,
            None,
            365 * DAY_MS,
            ("EvalReport", "StageChanged"),
            "evaluation reports and curriculum stage changes",
        ),
        TopicSpec(
            Topic.DEAD_LETTERS,
            1,
            None,
            30 * DAY_MS,
            ("DeadLetter",),
            "messages a consumer could not process, with the reason",
        ),
    )
}

#: Which topic an event type is published to.
TOPIC_OF_EVENT: dict[str, Topic] = {
    event: spec.topic for spec in TOPICS.values() for event in spec.events
}


def topic_name(topic: Topic, prefix: str = "dojo") -> str:
    return TOPICS[topic].name(prefix)


def all_topic_names(prefix: str = "dojo") -> list[str]:
    return [spec.name(prefix) for spec in TOPICS.values()]
