"""The judging agent: grades the due decisions, publishes JudgeVerdict or JudgeFailed.

It reads the episodes topic. Per episode it keeps the moves made so far (the
judge sees a decision with the episode's history) in an :class:`EpisodeTable`.
A batch's due decisions (:func:`dojo.judge.selection.is_due`) are judged
concurrently — the judge bounds its own concurrency — through the verdict
cache, hygiene and the judge of :mod:`dojo.judge.factory`. Per decision it
publishes exactly one answer under one deterministic id: a JudgeVerdict, or a
JudgeFailed that carries the reason and no score. A decision that hygiene
judged twice also gets the swapped-order judgement, as a JudgeVerdict with
``swapped=True`` (what the flip rate is computed from; consumers of scores
ignore it).

Each canonical verdict also yields drift pairs (judge score vs the heuristic
score of the same behaviour, :mod:`dojo.drift.pairs`) on the scoring app's
internal drift-pairs topic, timed by the verdict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
from pydantic import BaseModel, Field

from dojo.env.moves import Move
from dojo.events import DecisionMade, EpisodeCompleted
from dojo.judge import JudgeFailure, JudgeRequest, Redactor, Verdict
from dojo.judge.cache import VerdictKey
from dojo.judge.factory import JudgeStack
from dojo.judge.selection import is_due, judge_request
from dojo.replay.judging import verdict_events
from dojo.reward import RewardConfig
from dojo.topics import Topic
from streams.drift import PairMessage, pair_messages
from streams.scoring_io import Outbox
from streams.state import EpisodeAgent, EpisodeRow

log = logging.getLogger("streams.scoring.judging")

CONSUMER = "scoring-judging"
TABLE = "judging-episodes"


#: besides EpisodeStarted (:class:`~streams.state.EpisodeBatch`)
Handled = DecisionMade | EpisodeCompleted


class JudgingEpisode(EpisodeRow):
    """What the judging agent remembers of an episode while it runs."""

    moves: dict[int, Move] = Field(default_factory=dict)


#: upper bounds (seconds) of the judge-latency histogram the monitor exports
LATENCY_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class JudgingStats(BaseModel):
    judged: int = 0
    verdicts: int = 0
    failures: int = 0
    cached: int = 0
    swapped: int = 0
    repeat_failures: int = 0
    #: judgements that reached the judge (not answered by the verdict cache), and their time
    calls: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0
    #: calls that took at most each bound, cumulative (Prometheus histogram buckets)
    latency_buckets: dict[str, int] = Field(
        default_factory=lambda: {f"{b:g}": 0 for b in LATENCY_BUCKETS_S}
    )

    def timed(self, seconds: float) -> None:
        self.calls += 1
        self.latency_sum_s += seconds
        self.latency_max_s = max(self.latency_max_s, seconds)
        for bound in LATENCY_BUCKETS_S:
            if seconds <= bound:
                self.latency_buckets[f"{bound:g}"] += 1


Work = tuple[DecisionMade, JudgeRequest]


@dataclass(eq=False)
class Judging(EpisodeAgent[JudgingEpisode, JudgingStats]):
    """Judges the due decisions and publishes the answers."""

    stack: JudgeStack
    reward: RewardConfig
    pairs_topic: Any
    redactor: Redactor

    async def process(self, events: list[faust.EventT]) -> None:
        batch = self.batch()
        work: list[Work] = []
        batch.apply(
            events,
            Handled,
            lambda event, state, raw, outbox: self._apply(event, state, raw, outbox, work),
        )
        results = await self._judge_all(work)
        for (decision, request), result in zip(work, results, strict=True):
            self._publish(decision, request, result, batch.outbox)
        await batch.finish()

    def _apply(
        self,
        event: Handled,
        state: JudgingEpisode | None,
        raw: faust.EventT,
        outbox: Outbox,
        work: list[Work],
    ) -> JudgingEpisode | None:
        if not self.admitted(state, CONSUMER, event, raw, outbox):
            return state  # before its EpisodeStarted, or a redelivery after it finished
        if isinstance(event, EpisodeCompleted):
            state.finished = True
            state.moves = {}
            return state
        if is_due(event.decision_id, event.episode_id, event.signals, self.stack.sampling):
            assert state.spec is not None  # admitted: the episode has started
            history = [state.moves[s] for s in sorted(state.moves) if s < event.step]
            try:
                work.append((event, judge_request(event, state.spec, history)))
            except ValueError as exc:
                self.io.reject(raw, outbox, CONSUMER, f"cannot build a judge request: {exc}",
                               "BadJudgeRequest")  # fmt: skip
        state.moves[event.step] = event.move
        return state

    async def _judge_all(self, work: list[Work]) -> list[Verdict | JudgeFailure]:
        if not work:
            return []
        if self.stack.paid:
            keys = [
                VerdictKey(
                    judge_model=self.stack.judge.judge_model,
                    rubric_version=self.stack.judge.rubric_version,
                    content_hash=request.content_hash(),
                )
                for _, request in work
            ]
            behaviours = {request.content_hash(): request.behaviours for _, request in work}
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.stack.cache.prefetch, keys, behaviours)
        return list(await asyncio.gather(*(self._judge_one(request) for _, request in work)))

    async def _judge_one(self, request: JudgeRequest) -> Verdict | JudgeFailure:
        try:
            started = time.perf_counter()
            result = await self.stack.judge.judge(request)
            if not (isinstance(result, Verdict) and result.cached):
                self.stats.timed(time.perf_counter() - started)
            return result
        except Exception as exc:  # the Judge contract is to return failures, not raise
            reason = self.redactor.scrub(f"the judge raised {type(exc).__name__}: {exc}")[:500]
            log.error("judging %s: %s", request.decision_id, reason)
            judge = self.stack.judge
            return JudgeFailure(
                content_hash=request.content_hash(),
                judge_model=judge.judge_model,
                rubric_version=judge.rubric_version,
                reason=reason,
                error_type=type(exc).__name__,
                attempts=0,
            )

    def _publish(
        self,
        decision: DecisionMade,
        request: JudgeRequest,
        result: Verdict | JudgeFailure,
        outbox: Outbox,
    ) -> None:
        self.stats.judged += 1
        version = self.stack.version
        tolerance = self.stack.hygiene.config.tolerance
        events = verdict_events(self.io.stamper, decision, result, version, tolerance)
        for event in events:
            outbox.add(Topic.VERDICTS, event)
        if isinstance(result, JudgeFailure):
            self.stats.failures += 1
            return
        self.stats.verdicts += 1
        self.stats.cached += int(result.cached)
        repeat = result.repeat
        if repeat is not None and repeat.flipped is None:
            self.stats.repeat_failures += 1
            log.warning(
                "swapped-order judgement of %s failed: %s",
                decision.decision_id,
                repeat.failure_reason,
            )
        elif repeat is not None:
            self.stats.swapped += 1
        verdict = events[0]
        message: PairMessage
        for message in pair_messages(
            decision=decision,
            episode_type=request.episode_type,
            scores=result.scores,
            timestamp=verdict.produced_at.timestamp(),
            judge_version=version,
            reward=self.reward,
        ):
            outbox.add_raw(self.pairs_topic, message.key, message.model_dump_json().encode())
