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
from typing import Any

import faust
from pydantic import BaseModel, Field

from dojo.env.moves import Move
from dojo.env.protocol import EpisodeSpec
from dojo.events import DecisionMade, EpisodeCompleted, EpisodeStarted, JudgeFailed, JudgeVerdict
from dojo.judge import JudgeFailure, JudgeRequest, Redactor, Verdict
from dojo.judge.cache import VerdictKey
from dojo.judge.factory import JudgeStack
from dojo.judge.selection import is_due, judge_request
from dojo.reward import RewardConfig
from dojo.topics import Topic
from streams.drift import PairMessage, pair_messages
from streams.scoring_io import Outbox, ScoringIO
from streams.state import episode_table, load, row_key, store

log = logging.getLogger("streams.scoring.judging")

CONSUMER = "scoring-judging"
TABLE = "judging-episodes"


class JudgingEpisode(BaseModel):
    """What the judging agent remembers of an episode while it runs."""

    spec: EpisodeSpec | None = None
    moves: dict[int, Move] = Field(default_factory=dict)
    finished: bool = False
    touched: float = 0.0
    last_offset: int = 0


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


class Judging:
    """The agent's logic, apart from Faust's wiring (see :func:`install`)."""

    def __init__(
        self,
        io: ScoringIO,
        table: Any,
        stack: JudgeStack,
        reward: RewardConfig,
        pairs_topic: Any,
        redactor: Redactor,
    ) -> None:
        self.io = io
        self.table = table
        self.stack = stack
        self.reward = reward
        self.pairs_topic = pairs_topic
        self.redactor = redactor
        self.stats = JudgingStats()

    async def process(self, events: list[faust.EventT]) -> None:
        outbox = self.io.outbox()
        states: dict[bytes, JudgingEpisode | None] = {}
        work: list[Work] = []
        for event in events:
            decoded = self.io.decode(event, outbox)
            if not isinstance(decoded, EpisodeStarted | DecisionMade | EpisodeCompleted):
                continue
            key = row_key(decoded.episode_id)
            state = states[key] if key in states else load(self.table, key, JudgingEpisode)
            state = self._apply(decoded, state, event, outbox, work)
            if state is not None:
                state.touched = time.time()
                state.last_offset = event.message.offset
            states[key] = state
        results = await self._judge_all(work)
        for (decision, request), result in zip(work, results, strict=True):
            self._publish(decision, request, result, outbox)
        await outbox.deliver()
        for key, state in states.items():
            if state is not None:
                store(self.table, key, state)

    def _apply(
        self,
        event: EpisodeStarted | DecisionMade | EpisodeCompleted,
        state: JudgingEpisode | None,
        raw: faust.EventT,
        outbox: Outbox,
        work: list[Work],
    ) -> JudgingEpisode | None:
        if isinstance(event, EpisodeStarted):
            return state or JudgingEpisode(spec=event.spec)
        if state is None or state.spec is None:
            self.io.reject(
                raw,
                outbox,
                CONSUMER,
                f"{event.type} of episode {event.episode_id} before its EpisodeStarted",
                "EpisodeNotStarted",
            )
            return state
        if state.finished:
            return state  # a redelivery: its answers were published before it finished
        if isinstance(event, EpisodeCompleted):
            state.finished = True
            state.moves = {}
            return state
        if is_due(event.decision_id, event.episode_id, event.signals, self.stack.sampling):
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
        stamper, version = self.io.stamper, self.stack.version
        self.stats.judged += 1
        common = {
            "episode_id": decision.episode_id,
            "decision_id": decision.decision_id,
            "judge_version": version,
            "judge_model": result.judge_model,
            "content_hash": result.content_hash,
        }
        if isinstance(result, JudgeFailure):
            self.stats.failures += 1
            failed = stamper.make(
                JudgeFailed,
                (decision.decision_id, version),
                reason=result.reason,
                error_type=result.error_type,
                attempts=result.attempts,
                **common,
            )
            outbox.add(Topic.VERDICTS, failed)
            return
        self.stats.verdicts += 1
        self.stats.cached += int(result.cached)
        verdict = stamper.make(
            JudgeVerdict,
            (decision.decision_id, version),
            rubric_version=result.rubric_version,
            scores=result.scores,
            rationale=result.rationale,
            swapped=False,
            cached=result.cached,
            **common,
        )
        outbox.add(Topic.VERDICTS, verdict)
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
            diff = "n/a" if repeat.max_abs_diff is None else f"{repeat.max_abs_diff:.3f}"
            outbox.add(
                Topic.VERDICTS,
                stamper.make(
                    JudgeVerdict,
                    (decision.decision_id, version, "swapped"),
                    rubric_version=result.rubric_version,
                    scores=repeat.scores,
                    rationale=(
                        f"presentation order swapped: largest score change {diff}, "
                        f"{'flipped' if repeat.flipped else 'stable'} "
                        f"(tolerance {self.stack.hygiene.config.tolerance:g})"
                    ),
                    swapped=True,
                    cached=False,
                    **common,
                ),
            )
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


def install(
    app: faust.App,
    io: ScoringIO,
    source: Any,
    stack: JudgeStack,
    reward: RewardConfig,
    pairs_topic: Any,
    redactor: Redactor,
) -> Judging:
    """Register the judging agent and its table on ``app``."""
    table = episode_table(app, TABLE)
    judging = Judging(io, table, stack, reward, pairs_topic, redactor)
    settings = io.settings

    @app.agent(source, name="judging")
    async def judge_decisions(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]
            settings.scoring_batch_size, within=settings.scoring_batch_within_s
        ):
            await judging.process(list(events))

    return judging
