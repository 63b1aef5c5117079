"""The assembler: one TrajectoryScored per episode, for the learner, once everything is in.

It reads the episodes, rewards and verdicts topics (co-partitioned by
``episode_id``). Per episode it keeps a small header row (spec, policy version,
which decisions arrived, which are due for the judge and answered, the rewards
of the current ``reward_version``) and one row per decision with what the
learner needs of it — token ids, log-probs, the decoding masks — written once.
When the episode has completed, every decision has its reward and every due
decision an answer from the judge, it publishes TrajectoryScored with all
versions: ``policy_version``, ``reward_version``, and ``judge_version`` when
judge scores fed any reward. Its id derives from (episode, reward_version,
judge_version), so a redelivery publishes nothing new.

Rewards of another ``reward_version`` (a replay re-scoring history, say) do
not count here; they are stored like every event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
from pydantic import BaseModel, Field

from dojo.events import (
    DecisionMade,
    DecisionRewarded,
    EpisodeCompleted,
    EpisodeStarted,
    JudgeFailed,
    JudgeVerdict,
    ScoredDecision,
    TrajectoryScored,
)
from dojo.topics import Topic
from streams.scoring_io import AwaitedJudge, Outbox
from streams.state import EpisodeAgent, EpisodeRow, load, row_key, store

log = logging.getLogger("streams.scoring.assembler")

CONSUMER = "scoring-assembler"
TABLE = "assembler-episodes"

#: besides EpisodeStarted (:class:`~streams.state.EpisodeBatch`)
Handled = DecisionMade | EpisodeCompleted | DecisionRewarded | JudgeVerdict | JudgeFailed


class RewardEntry(BaseModel):
    scalar: float
    vector: dict[str, float]
    judge_version: str | None = None


class AssemblyEpisode(EpisodeRow):
    """The header row of an episode being assembled."""

    policy_version: str | None = None
    steps: dict[str, int] = Field(default_factory=dict, description="decision id -> step")
    due: list[str] = Field(default_factory=list)
    answered: list[str] = Field(default_factory=list)
    rewards: dict[str, RewardEntry] = Field(default_factory=dict)
    announced: int | None = None

    def start(self, event: EpisodeStarted) -> None:
        super().start(event)
        self.policy_version = event.policy_version


class Tokens(BaseModel):
    """A decision's row: what the learner needs of it."""

    step: int
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    logprobs: list[float]
    allowed_token_ids: list[list[int] | None] | None = None
    context_offset: int = 0  # a chat model's conversation (see DecisionMade)


class AssemblerStats(BaseModel):
    trajectories: int = 0
    other_reward_versions: int = 0


@dataclass(eq=False)
class Assembler(EpisodeAgent[AssemblyEpisode, AssemblerStats]):
    """Publishes an episode's TrajectoryScored once everything is in."""

    reward_version: str
    judge: AwaitedJudge

    async def process(self, events: list[faust.EventT]) -> None:
        batch = self.batch()
        rows: dict[bytes, Tokens | None] = {}
        batch.apply(
            events,
            Handled,
            lambda event, state, raw, outbox: self._apply(event, state, rows, raw, outbox),
            lambda episode_id, state, outbox: self._assemble(episode_id, state, rows, outbox),
        )
        await batch.deliver()
        for key, row in rows.items():  # before the headers that name them
            if row is None:
                if key in self.table:
                    del self.table[key]
            else:
                store(self.table, key, row)
        batch.store()

    def _apply(
        self,
        event: Handled,
        state: AssemblyEpisode | None,
        rows: dict[bytes, Tokens | None],
        raw: faust.EventT,
        outbox: Outbox,
    ) -> AssemblyEpisode | None:
        if isinstance(event, DecisionRewarded):
            if event.reward_version != self.reward_version:
                self.stats.other_reward_versions += 1
                return state
            state = state or AssemblyEpisode()
            if not state.finished:
                state.rewards[event.decision_id] = RewardEntry(
                    scalar=event.scalar, vector=event.vector, judge_version=event.judge_version
                )
            return state
        if isinstance(event, JudgeVerdict | JudgeFailed):
            if not self.judge.answered_by(event):
                return state
            state = state or AssemblyEpisode()
            if not state.finished and event.decision_id not in state.answered:
                state.answered.append(event.decision_id)
            return state
        if not self.admitted(state, CONSUMER, event, raw, outbox):
            return state
        if isinstance(event, DecisionMade):
            state.steps[event.decision_id] = event.step
            if self.judge.grades(event) and event.decision_id not in state.due:
                state.due.append(event.decision_id)
            rows[row_key(event.episode_id, event.decision_id)] = Tokens(
                step=event.step,
                prompt_token_ids=event.prompt_token_ids,
                completion_token_ids=event.completion_token_ids,
                logprobs=event.logprobs,
                allowed_token_ids=event.allowed_token_ids,
                context_offset=event.context_offset,
            )
            return state
        if event.outcome.decisions != len(state.steps):
            # attribution dead-letters the torn episode; nothing will come to assemble
            self._drop(event.episode_id, state, rows)
            return state
        state.announced = event.outcome.decisions
        return state

    @staticmethod
    def _ready(state: AssemblyEpisode) -> bool:
        return (
            state.announced is not None
            and all(d in state.rewards for d in state.steps)
            and all(d in state.answered for d in state.due)
        )

    def _assemble(
        self,
        episode_id: str,
        state: AssemblyEpisode,
        rows: dict[bytes, Tokens | None],
        outbox: Outbox,
    ) -> None:
        """Publish the episode's trajectory once it is ready (and only once)."""
        if state.finished or not self._ready(state):
            return
        assert state.spec is not None and state.policy_version is not None
        decisions = []
        for decision_id in sorted(state.steps, key=state.steps.__getitem__):
            key = row_key(episode_id, decision_id)
            tokens = rows.get(key) or load(self.table, key, Tokens)
            if tokens is None:  # cannot happen while rows are written before the header
                log.error("assembler: no token row for %s; episode left unassembled", decision_id)
                return
            reward = state.rewards[decision_id]
            decisions.append(
                ScoredDecision(
                    decision_id=decision_id,
                    step=tokens.step,
                    prompt_token_ids=tokens.prompt_token_ids,
                    completion_token_ids=tokens.completion_token_ids,
                    logprobs=tokens.logprobs,
                    allowed_token_ids=tokens.allowed_token_ids,
                    reward=reward.scalar,
                    vector=reward.vector,
                    context_offset=tokens.context_offset,
                )
            )
        judged = any(r.judge_version is not None for r in state.rewards.values())
        judge_version = self.judge.version if judged else None
        outbox.add(
            Topic.TRAJECTORIES,
            self.io.stamper.make(
                TrajectoryScored,
                (episode_id, self.reward_version, judge_version or "-"),
                episode_id=episode_id,
                spec=state.spec,
                policy_version=state.policy_version,
                reward_version=self.reward_version,
                judge_version=judge_version,
                episode_reward=sum(d.reward for d in decisions),
                decisions=decisions,
            ),
        )
        self.stats.trajectories += 1
        self._drop(episode_id, state, rows)

    @staticmethod
    def _drop(episode_id: str, state: AssemblyEpisode, rows: dict[bytes, Tokens | None]) -> None:
        for decision_id in state.steps:
            rows[row_key(episode_id, decision_id)] = None
        state.finished = True
        state.steps, state.due, state.answered, state.rewards = {}, [], [], {}
