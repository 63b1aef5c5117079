"""The evaluator service: evaluation cadences and the curriculum on the live stream.

It reads the evals topic (reports and stage changes already published) and then
the episodes topic from the beginning, with no consumer group: its state — how
many training episodes completed, the curriculum's measurements, which reports
exist — is rebuilt from the log on every start, so a restart neither repeats a
published report nor misses a due one.

* every ``eval_quick_every`` completed training episodes: a quick report;
* every ``eval_full_every``: a full report;
* when the curriculum graduates a stage (every criterion met over its window):
  a StageChanged event, then a comprehensive report for the stage just completed.

Reports run one at a time in a thread, while the stream keeps being read; when
several marks of a cadence are due (after a restart, or while a long report
ran), only the newest is evaluated. On a stop request it reads what was
published up to then, runs what is due and exits.

Report ids are ``<cadence>@<mark>/<run>``: ``run`` is a token the first report
of this log fixed (later starts read it back), so ids — and with them event
ids — stay stable across restarts and differ between runs sharing a store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from dojo.broker.connection import aiokafka_options
from dojo.broker.offsets import log_end_offsets
from dojo.config import Settings
from dojo.curriculum import Curriculum, StageChange
from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.eval.harness import Cadence, EvalResult, Evaluator, Subject, subject_from_settings
from dojo.eval.report import parse_report_id, report_event
from dojo.eval.transfer import team_metrics
from dojo.events import (
    AnyEvent,
    DecisionMade,
    DecodeError,
    EpisodeCompleted,
    EpisodeStarted,
    EvalReport,
    StageChanged,
    Stamper,
    decode,
    encode,
)
from dojo.store.reader import StoreUnavailable, open_store
from dojo.topics import Topic, topic_name
from dojo.workers.env_worker import make_producer
from dojo.workers.readiness import announce_ready

log = logging.getLogger(__name__)
READY_MARKER = "evaluator ready"
_POLL_MS = 500


@dataclass(frozen=True)
class EvalJob:
    cadence: Cadence
    mark: str  # the episode count (quick, full) or "stage<n>" (comprehensive)
    stage: int

    def report_id(self, run: str) -> str:
        return f"{self.cadence}@{self.mark}/{run}"


@dataclass
class EvaluatorState:
    """What the log says so far (no I/O; fed decoded events in log order)."""

    settings: Settings
    curriculum: Curriculum = field(init=False)
    run: str | None = None
    completed: set[str] = field(default_factory=set)
    #: episode id -> (episode type, training, the stage it was dealt for)
    specs: dict[str, tuple[str, bool, int]] = field(default_factory=dict)
    #: the decisions' signals of the episodes measured from them (measured_from_decisions)
    decision_signals: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    done: set[tuple[str, str]] = field(default_factory=set)
    stage_changes: set[tuple[int, int]] = field(default_factory=set)
    launched: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.curriculum = Curriculum(
            stage=self.settings.stage, window=self.settings.curriculum.window
        )

    @property
    def episodes(self) -> int:
        return len(self.completed)

    def on_event(self, event: AnyEvent) -> StageChange | None:
        if isinstance(event, EpisodeStarted):
            from dojo.curriculum import measured_from_decisions

            spec = event.spec
            training = spec.seed < HELD_OUT_SEED_BASE
            self.specs[event.episode_id] = (spec.episode_type, training, spec.stage)
            if training and spec.episode_type in measured_from_decisions():
                self.decision_signals[event.episode_id] = []
        elif isinstance(event, DecisionMade):
            signals = self.decision_signals.get(event.episode_id)
            if signals is not None and event.step == len(signals):
                signals.append(dict(event.signals))
        elif isinstance(event, EpisodeCompleted):
            return self._completed(event)
        elif isinstance(event, EvalReport):
            parsed = parse_report_id(event.report_id)
            if parsed is not None:
                cadence, mark, run = parsed
                self.run = self.run or run
                self.done.add((cadence, mark))
        elif isinstance(event, StageChanged):
            self.stage_changes.add((event.from_stage, event.to_stage))
            self.curriculum.apply(event)
        return None

    def _completed(self, event: EpisodeCompleted) -> StageChange | None:
        known = self.specs.pop(event.episode_id, None)
        signals = self.decision_signals.pop(event.episode_id, [])
        if known is None or event.episode_id in self.completed:
            return None  # a duplicate, or its start is not in the log: nothing to count
        episode_type, training, stage = known
        if not training:
            return None
        self.completed.add(event.episode_id)
        curriculum = self.curriculum
        curriculum.episodes = self.episodes
        # counted towards the stage it was dealt for only (dojo.curriculum)
        curriculum.record_all(_measurements(episode_type, event, signals), stage)
        if not self.settings.curriculum.auto:
            return None
        change = curriculum.advance()
        if change is None or (change.from_stage, change.to_stage) in self.stage_changes:
            return None
        self.stage_changes.add((change.from_stage, change.to_stage))
        return change

    def due(self) -> list[EvalJob]:
        """Reports due now and not yet published nor started: the newest mark per cadence,
        the rarest cadence first (comprehensive, full, quick).

        The evaluator runs ``due()[0]``; with quick first, a quick report came due again
        while each one ran, and a long always-on run never made a full one.
        """
        jobs: list[EvalJob] = []
        stage = self.curriculum.stage
        for from_stage, _ in sorted(self.stage_changes):
            key = f"stage{from_stage}"
            if ("comprehensive", key) not in self.done and self.launched.get(key) is None:
                jobs.append(EvalJob("comprehensive", key, from_stage))
        cadences: tuple[tuple[Cadence, int], ...] = (
            ("full", self.settings.eval.full_every),
            ("quick", self.settings.eval.quick_every),
        )
        for cadence, every in cadences:
            if every <= 0 or self.episodes < every:
                continue
            mark = self.episodes // every * every
            if mark > self.launched.get(cadence, 0) and (cadence, f"{mark:06d}") not in self.done:
                jobs.append(EvalJob(cadence, f"{mark:06d}", stage))
        return jobs

    def launch(self, job: EvalJob) -> None:
        if job.cadence == "comprehensive":
            self.launched[job.mark] = 1
        else:
            self.launched[job.cadence] = int(job.mark)


def _measurements(
    episode_type: str, event: EpisodeCompleted, signals: list[dict[str, float]]
) -> dict[str, float | None]:
    """What the episode measures (:func:`dojo.curriculum.episode_measurements`, as the
    store path does): ``signals`` are its decisions' signals in step order."""
    from dojo.curriculum import episode_measurements

    outcome = event.outcome
    return episode_measurements(episode_type, outcome.behaviour_metrics, outcome.signals, signals)


SubjectLoader = Callable[[Settings], Subject]


async def publish_event(settings: Settings, event: EvalReport | StageChanged) -> None:
    """Send one evaluation event to the evals topic and wait for the broker's ack."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = topic_name(Topic.EVALS, settings.topic_prefix)
        await producer.send_and_wait(topic, encode(event), key=None)
    finally:
        await producer.stop()


@dataclass
class EvaluatorReport:
    episodes: int = 0
    reports: list[str] = field(default_factory=list)
    stage_changes: list[tuple[int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _team(settings: Settings, policy_version: str) -> dict[str, float | None]:
    try:
        reader = open_store(settings.store.path, settings.store.url)
    except StoreUnavailable as exc:
        log.warning("no team metrics for transfer scores: %s", exc)
        return {}
    try:
        return team_metrics(reader, policy_version, window=settings.eval.team_window)
    finally:
        reader.close()


def _evaluate(evaluator: Evaluator, loader: SubjectLoader, job: EvalJob) -> EvalResult:
    subject = loader(evaluator.settings)
    team = _team(evaluator.settings, subject.version) if job.cadence == "comprehensive" else None
    return evaluator.evaluate(subject, job.cadence, stage=job.stage, team=team)


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    on_event: Callable[[AnyEvent], None],
    settings: Settings,
) -> None:
    """Consume ``partitions`` up to their end offsets as of now."""
    ends = await log_end_offsets(settings, partitions)

    async def behind() -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return True
        return False

    while await behind():
        batches = await consumer.getmany(*partitions, timeout_ms=_POLL_MS)
        for records in batches.values():
            for record in records:
                _handle(record.value, on_event)


def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise RuntimeError(f"topic {topic} does not exist: create the topics first (dojo up does)")
    return [TopicPartition(topic, p) for p in sorted(found)]


def _handle(raw: bytes | None, on_event: Callable[[AnyEvent], None]) -> None:
    if raw is None:
        return
    try:
        event = decode(raw)
    except DecodeError as exc:
        # the sink dead-letters bad input; here it is only skipped
        log.warning("skipping an undecodable record: %s", exc)
        return
    on_event(event)


async def run_evaluator(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    evaluator: Evaluator | None = None,
    load_subject: SubjectLoader = subject_from_settings,
    on_ready: Callable[[], None] | None = None,
) -> EvaluatorReport:
    """Run until ``stop`` is set; then catch up, finish what is due, and return."""
    stop = stop or asyncio.Event()
    evaluator = evaluator or Evaluator(settings)
    state = EvaluatorState(settings)
    report = EvaluatorReport()
    stamper = Stamper(f"evaluator@{socket.gethostname()}:{os.getpid()}")
    producer = make_producer(settings)
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings), group_id=None, enable_auto_commit=False
    )
    episodes_topic = topic_name(Topic.EPISODES, settings.topic_prefix)
    evals_topic = topic_name(Topic.EVALS, settings.topic_prefix)
    await producer.start()
    await consumer.start()
    pending: list[AnyEvent] = []

    def on_event(event: AnyEvent) -> None:
        change = state.on_event(event)
        if change is not None:
            state.run = state.run or uuid.uuid4().hex[:8]
            pending.append(change.event(stamper, state.run))
            report.stage_changes.append((change.from_stage, change.to_stage))

    async def publish() -> None:
        while pending:
            event = pending.pop(0)
            await producer.send_and_wait(evals_topic, encode(event), key=None)

    running: asyncio.Task[EvalResult] | None = None
    running_job: EvalJob | None = None
    try:
        await consumer.topics()  # a metadata refresh: the partitions of every topic
        evals = _partitions(consumer, evals_topic)
        episode_parts = _partitions(consumer, episodes_topic)
        consumer.assign([*evals, *episode_parts])
        await consumer.seek_to_beginning(*evals, *episode_parts)
        # what was already published first, so nothing done is done again
        await _read_to_end(consumer, evals, on_event, settings)
        pending.clear()  # stage changes replayed from the log are already on it
        report.stage_changes.clear()
        announce_ready()  # dojo up waits for this (dojo.workers.readiness)
        print(READY_MARKER, flush=True)
        if on_ready is not None:
            on_ready()
        stopping = False
        while True:
            if stop.is_set() and not stopping:
                stopping = True
                # everything published up to the stop request counts
                await _read_to_end(consumer, episode_parts, on_event, settings)
            if not stopping:
                batches = await consumer.getmany(*episode_parts, *evals, timeout_ms=_POLL_MS)
                for records in batches.values():
                    for record in records:
                        _handle(record.value, on_event)
            await publish()
            if running is not None and running.done():
                assert running_job is not None
                try:
                    result = running.result()
                except Exception as exc:
                    # a report that cannot be made (a broken adapter, a model that will
                    # not load) is logged, not retried at this mark, and the stream goes on
                    log.exception("evaluation %s failed", running_job)
                    report.errors.append(f"{running_job.cadence}@{running_job.mark}: {exc}")
                else:
                    run = state.run = state.run or uuid.uuid4().hex[:8]
                    event = report_event(result, running_job.report_id(run), stamper)
                    await producer.send_and_wait(evals_topic, encode(event), key=None)
                    state.done.add((running_job.cadence, running_job.mark))
                    report.reports.append(event.report_id)
                    log.info("published %s", event.report_id)
                running = running_job = None
            if running is None:
                jobs = state.due()
                if jobs:
                    running_job = jobs[0]
                    state.launch(running_job)
                    running = asyncio.create_task(
                        asyncio.to_thread(_evaluate, evaluator, load_subject, running_job)
                    )
                elif stopping:
                    break
            if stopping and running is not None:
                await asyncio.wait({running}, timeout=_POLL_MS / 1000)
    finally:
        if running is not None and not running.done():
            running.cancel()
        report.episodes = state.episodes
        await consumer.stop()
        await producer.stop()
    return report
