"""An AAT episode (:class:`dojo.env.aat.AATEpisode`) as the events Dojo publishes.

The same shape as :func:`dojo.workers.rollout.rollout`: EpisodeStarted, then per
AAT phase a PhaseStarted, the candidate's DecisionMade events and a
PhaseCompleted, and EpisodeCompleted last with ``event_count``. Ids derive from
``(episode_id, position)``, so re-publishing one AAT episode is idempotent.

AAT's agents produce text only: the decisions carry no token ids and no
log-probs, so the learner cannot train on them (nothing is invented to fill
them); they feed attribution, judging, drift and the store like any other.
No Kafka here: the caller sends what this yields.
"""

from __future__ import annotations

from collections.abc import Iterator

from dojo.env.aat import AATEpisode
from dojo.events import (
    AnyEvent,
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    Stamper,
)
from dojo.workers.rollout import stamp_phase


def aat_events(
    episode: AATEpisode,
    episode_id: str,
    stamper: Stamper,
    *,
    policy_version: str = "aat",
    candidate_only: bool = True,
) -> Iterator[AnyEvent]:
    """The events of one AAT episode; ``candidate_only=False`` publishes teammates' decisions too."""
    seq = 0

    def next_seq() -> int:
        nonlocal seq
        seq += 1
        return seq - 1

    yield stamper.make(
        EpisodeStarted,
        (episode_id, next_seq()),
        episode_id=episode_id,
        spec=episode.spec,
        policy_version=policy_version,
        scenario=episode.summary,
    )
    step = 0
    for phase in episode.phases:
        started, completed = phase.events(candidate_only=candidate_only)
        yield stamp_phase(stamper, episode_id, next_seq(), started)
        for decision in phase.decisions:
            if candidate_only and not decision.candidate:
                continue
            result = decision.as_step()
            yield stamper.make(
                DecisionMade,
                (episode_id, next_seq()),
                episode_id=episode_id,
                decision_id=f"{episode_id}/{step:03d}",
                step=step,
                phase=phase.phase,
                policy_version=policy_version,
                prompt_text=decision.context,
                completion_text=decision.action_content,
                move=result.move,
                consequences=list(result.consequences),
            )
            step += 1
        yield stamp_phase(stamper, episode_id, next_seq(), completed)
    published_before = seq
    yield stamper.make(
        EpisodeCompleted,
        (episode_id, next_seq()),
        episode_id=episode_id,
        outcome=episode.outcome.model_copy(update={"decisions": step, "baseline_actions": step}),
        policy_version=policy_version,
        event_count=published_before,
    )
