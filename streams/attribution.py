"""The attribution agent: one DecisionRewarded per decision, once the episode and its
due judgements are in.

It reads the episodes and verdicts topics (co-partitioned by ``episode_id``)
and keeps each running episode — spec, decision records, answers of the judge —
in an :class:`EpisodeTable`. When the episode has completed and every due
decision (:func:`dojo.judge.selection.is_due`) has an answer from the
configured judge version — a JudgeVerdict, or a JudgeFailed, which counts as
answered — it runs :func:`dojo.reward.attribute_episode` and publishes a reward
per decision: vector, scalar, ``reward_version`` and, where judge scores fed it,
``judge_version``.

Why wait for the judge instead of rewarding at once and correcting later: the
learner then gets one reward per decision per version, computed with every
score there is; a failed judgement is simply a missing component (excluded, the
rest renormalised — never a made-up number). The wait is bounded by the judge
itself: every due decision gets an answer, because a judge that fails says so.

Inconsistent input becomes a dead letter: a decision or completion with no
EpisodeStarted before it, an EpisodeCompleted that announces a different number
of decisions than arrived (a torn episode; it gets no rewards).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
from pydantic import BaseModel, Field

from dojo.env.protocol import EpisodeOutcome
from dojo.events import (
    DecisionMade,
    DecisionRewarded,
    EpisodeCompleted,
    JudgeFailed,
    JudgeVerdict,
)
from dojo.reward import DecisionRecord, RewardConfig, attribute_episode
from dojo.topics import Topic
from streams.scoring_io import AwaitedJudge, Outbox
from streams.state import EpisodeAgent, EpisodeRow

log = logging.getLogger("streams.scoring.attribution")

CONSUMER = "scoring-attribution"
TABLE = "attribution-episodes"

#: besides EpisodeStarted (:class:`~streams.state.EpisodeBatch`)
Handled = DecisionMade | EpisodeCompleted | JudgeVerdict | JudgeFailed


class DecisionEntry(BaseModel):
    step: int
    record: DecisionRecord
    due: bool


class AttributionEpisode(EpisodeRow):
    """What attribution remembers of an episode until it is rewarded."""

    decisions: dict[str, DecisionEntry] = Field(default_factory=dict)
    #: decision id -> the judge's scores, or None for a recorded failure
    answers: dict[str, dict[str, float] | None] = Field(default_factory=dict)
    outcome: EpisodeOutcome | None = None

    def waiting_for(self) -> list[str]:
        return sorted(d for d, e in self.decisions.items() if e.due and d not in self.answers)


class AttributionStats(BaseModel):
    episodes: int = 0
    rewards: int = 0
    torn: int = 0


@dataclass(eq=False)
class Attribution(EpisodeAgent[AttributionEpisode, AttributionStats]):
    """Rewards an episode's decisions once it and its due judgements are in."""

    reward: RewardConfig
    judge: AwaitedJudge

    async def process(self, events: list[faust.EventT]) -> None:
        batch = self.batch()
        batch.apply(events, Handled, self._apply, self._reward)
        await batch.finish()

    def _apply(
        self,
        event: Handled,
        state: AttributionEpisode | None,
        raw: faust.EventT,
        outbox: Outbox,
    ) -> AttributionEpisode | None:
        if isinstance(event, JudgeVerdict | JudgeFailed):
            if not self.judge.answered_by(event):
                return state  # another judge's answer, or the hygiene repeat: not awaited
            state = state or AttributionEpisode()
            if not state.finished:
                if isinstance(event, JudgeVerdict):
                    state.answers[event.decision_id] = dict(event.scores)
                else:
                    state.answers.setdefault(event.decision_id, None)
            return state
        if not self.admitted(state, CONSUMER, event, raw, outbox):
            return state  # before its EpisodeStarted, or rewarded already
        if isinstance(event, DecisionMade):
            state.decisions[event.decision_id] = DecisionEntry(
                step=event.step,
                record=DecisionRecord.from_event(event),
                due=self.judge.grades(event),
            )
            return state
        announced = event.outcome.decisions
        if announced != len(state.decisions):
            self.stats.torn += 1
            self.io.reject(
                raw,
                outbox,
                CONSUMER,
                f"torn episode {event.episode_id}: EpisodeCompleted announces {announced} "
                f"decisions, {len(state.decisions)} arrived; not rewarded",
                "TornEpisode",
            )
            return _finished(state)
        state.outcome = event.outcome
        return state

    @staticmethod
    def _ready(state: AttributionEpisode) -> bool:
        return state.outcome is not None and state.spec is not None and not state.waiting_for()

    def _reward(self, episode_id: str, state: AttributionEpisode, outbox: Outbox) -> None:
        """Reward the episode once it is ready (and only once)."""
        if state.finished or not self._ready(state):
            return
        assert state.spec is not None and state.outcome is not None
        entries = sorted(state.decisions.values(), key=lambda e: e.step)
        judged = {d: s for d, s in state.answers.items() if s}
        episode = attribute_episode(
            state.spec, [e.record for e in entries], state.outcome, judged, self.reward
        )
        for decision in episode.decisions:
            scores = judged.get(decision.decision_id, {})
            fed = any(k in scores for k in decision.components_present)
            judge_version = self.judge.version if fed else None
            outbox.add(
                Topic.REWARDS,
                self.io.stamper.make(
                    DecisionRewarded,
                    (decision.decision_id, episode.reward_version, judge_version or "-"),
                    episode_id=episode_id,
                    decision_id=decision.decision_id,
                    reward_version=episode.reward_version,
                    judge_version=judge_version,
                    episode_type=state.spec.episode_type,
                    stage=state.spec.stage,
                    vector=decision.vector,
                    scalar=decision.scalar,
                    components_present=decision.components_present,
                ),
            )
        self.stats.episodes += 1
        self.stats.rewards += len(episode.decisions)
        _finished(state)


def _finished(state: AttributionEpisode) -> AttributionEpisode:
    """Keep only the marker: redeliveries and late answers are then recognised and ignored."""
    state.finished = True
    state.decisions, state.answers, state.outcome = {}, {}, None
    return state
