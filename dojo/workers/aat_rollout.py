"""An AAT episode played by Dojo's policy, as the events Dojo publishes.

The same shape and fields as :func:`dojo.workers.rollout.rollout`: EpisodeStarted,
then per AAT phase a PhaseStarted, the candidate's DecisionMade events (each of
the policy's generations with its prompt and completion token ids, log-probs,
grammar masks and ``policy_version``) and a PhaseCompleted, and EpisodeCompleted
last with ``event_count``. The learner trains on them as on the simulator's.
Ids derive from ``(episode_id, position)``, so re-publishing one AAT episode is
idempotent.

AAT runs a whole episode in one call (its phases and its team are async code of
its own), so the events are made when it returns, not decision by decision.
AAT's team's decisions are canned text and are not published: they are not the
candidate's, and the PhaseCompleted outcome counts them (``team_decisions``).
No Kafka here: :class:`AATPlayer` hands the events to the caller to send.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dojo.config import Settings
from dojo.env.aat import AATBackend, AATEpisode
from dojo.env.protocol import EpisodeSpec
from dojo.events import AnyEvent, DecisionMade, EpisodeCompleted, EpisodeStarted, Stamper
from dojo.workers.rollout import Actor, stamp_phase


def aat_events(
    episode: AATEpisode, episode_id: str, stamper: Stamper, *, timed: bool = True
) -> Iterator[AnyEvent]:
    """The events of one AAT episode the policy played (``episode.policy_version`` set).

    ``timed=False`` records zero generation time, for byte-identical streams.
    """
    if episode.policy_version is None:
        raise ValueError(
            "AAT's mock played this episode's candidate: no policy decisions to publish"
        )
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
        policy_version=episode.policy_version,
        scenario=episode.summary,
    )
    step = 0
    for phase in episode.phases:
        started, completed = phase.events()
        yield stamp_phase(stamper, episode_id, next_seq(), started)
        for turn in phase.turns:
            action = turn.action
            yield stamper.make(
                DecisionMade,
                (episode_id, next_seq()),
                episode_id=episode_id,
                decision_id=f"{episode_id}/{step:03d}",
                step=step,
                phase=phase.phase,
                policy_version=episode.policy_version,
                prompt_text=action.prompt_text,
                prompt_token_ids=action.prompt_token_ids,
                completion_text=action.text,
                completion_token_ids=action.completion_token_ids,
                logprobs=action.logprobs,
                allowed_token_ids=action.allowed_token_ids,
                move=turn.move,
                generation_ms=round(turn.generation_ms, 3) if timed else 0.0,
                context_offset=action.context_offset,
                context_restarted=action.context_restarted,
                finish_reason=action.finish_reason,
            )
            step += 1
        yield stamp_phase(stamper, episode_id, next_seq(), completed)
    published_before = seq
    yield stamper.make(
        EpisodeCompleted,
        (episode_id, next_seq()),
        episode_id=episode_id,
        outcome=episode.outcome,
        policy_version=episode.policy_version,
        event_count=published_before,
    )


class AATPlayer:
    """Plays AAT episodes with an actor as the candidate (``DOJO_ENV_BACKEND=aat``)."""

    def __init__(self, backend: AATBackend) -> None:
        self.backend = backend

    @classmethod
    def from_settings(cls, settings: Settings) -> AATPlayer:
        """AAT from ``DOJO_AAT_PATH``; raises :class:`~dojo.env.aat.AATUnavailable`."""
        workspace = Path(settings.data_dir) / "aat"
        return cls(AATBackend.load(settings.aat_path, workspace=workspace))

    async def play(
        self, spec: EpisodeSpec, episode_id: str, actor: Actor, stamper: Stamper
    ) -> list[AnyEvent]:
        """One episode's events, the EpisodeCompleted last."""
        episode = await self.backend.run_episode(spec, actor)
        return list(aat_events(episode, episode_id, stamper))
