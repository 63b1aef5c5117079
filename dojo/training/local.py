"""One episode's events turned into a TrajectoryScored without Kafka.

In the running system the scoring stream app assembles trajectories from the
episode and reward topics. Tests and quick experiments need the same event
straight from a rollout: attribute the episode's rewards with
:func:`dojo.reward.attribute_episode` (no judge) and package them as the event
the learner consumes.
"""

from __future__ import annotations

from collections.abc import Iterable

from dojo.events import (
    AnyEvent,
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    ScoredDecision,
    Stamper,
    TrajectoryScored,
)
from dojo.reward import DecisionRecord, attribute_episode


def score_events(events: Iterable[AnyEvent], stamper: Stamper) -> TrajectoryScored:
    """The TrajectoryScored of one complete episode's events (rewards without a judge)."""
    started: EpisodeStarted | None = None
    completed: EpisodeCompleted | None = None
    decisions: list[DecisionMade] = []
    for event in events:
        if isinstance(event, EpisodeStarted):
            started = event
        elif isinstance(event, DecisionMade):
            decisions.append(event)
        elif isinstance(event, EpisodeCompleted):
            completed = event
    if started is None or completed is None:
        raise ValueError("an episode's events need its EpisodeStarted and EpisodeCompleted")
    records = [DecisionRecord.from_event(d) for d in decisions]
    rewards = attribute_episode(started.spec, records, completed.outcome)
    return stamper.make(
        TrajectoryScored,
        (started.episode_id, rewards.reward_version),
        episode_id=started.episode_id,
        spec=started.spec,
        policy_version=started.policy_version,
        reward_version=rewards.reward_version,
        episode_reward=rewards.total,
        decisions=[
            ScoredDecision(
                decision_id=d.decision_id,
                step=d.step,
                prompt_token_ids=d.prompt_token_ids,
                completion_token_ids=d.completion_token_ids,
                logprobs=d.logprobs,
                allowed_token_ids=d.allowed_token_ids,
                reward=r.scalar,
                vector=r.vector,
                context_offset=d.context_offset,
            )
            for d, r in zip(decisions, rewards.decisions, strict=True)
        ],
    )
