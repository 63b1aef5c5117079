"""The live judging agent and a replay answer the same decision with the same bytes.

The same episodes go through both real paths with one judge stack (the offline
judge, every judged decision judged twice, some judgements failing): the live
agent (:class:`streams.judging.Judging`, fed the episodes' messages as a Faust
worker would, publishing into an outbox whose topics record what they are sent)
and a replay of the stored episodes (:func:`dojo.replay.run_replay`, direct into
the store). Both stamp with the replay's source and one fixed clock, so every
byte of the envelope must agree: the event id, and the content it names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from replay_support import episode, store_events

from dojo.config import Settings
from dojo.events import AnyEvent, JudgeFailed, JudgeVerdict, Stamper, decode, encode
from dojo.judge import JudgeFailure, JudgeRequest, OfflineJudge, Redactor, Verdict
from dojo.judge.cache import CachedJudge
from dojo.judge.factory import JudgeStack, sampling_config
from dojo.judge.hygiene import HygieneConfig, HygieneJudge
from dojo.judge.result import Presentation
from dojo.judge.store_cache import StoreVerdictCache
from dojo.replay import ReplayOptions, run_replay
from dojo.replay import run as replay_run
from dojo.reward import load_reward_config
from dojo.store import open_store
from dojo.topics import Topic, topic_name
from streams.judging import Judging
from streams.scoring_io import ScoringIO

EPISODES = range(6)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FailingSometimes:
    """The offline judge, except that it fails on a third of the contents, and on the
    swapped presentation of another third (so hygiene's repeat fails there)."""

    def __init__(self, settings: Settings) -> None:
        self.inner = OfflineJudge(sampling_config(settings))

    @property
    def judge_model(self) -> str:
        return self.inner.judge_model

    @property
    def rubric_version(self) -> str:
        return self.inner.rubric_version

    @property
    def sampling(self) -> Any:
        return self.inner.sampling

    async def judge(
        self, request: JudgeRequest, *, presentation: Presentation = "canonical"
    ) -> Verdict | JudgeFailure:
        third = int(request.content_hash()[:8], 16) % 3
        if (third, presentation) in ((0, "canonical"), (1, "swapped")):
            return JudgeFailure(
                content_hash=request.content_hash(),
                judge_model=self.judge_model,
                rubric_version=self.rubric_version,
                reason="the judge gave up",
                error_type="GaveUp",
                attempts=2,
                presentation=presentation,
            )
        return await self.inner.judge(request, presentation=presentation)


def stack(settings: Settings) -> JudgeStack:
    """As :func:`dojo.judge.factory.judge_stack` assembles it, over the failing judge."""
    model = FailingSometimes(settings)
    hygiene = HygieneJudge(model, HygieneConfig(double_fraction=1.0))  # type: ignore[arg-type]
    cache = StoreVerdictCache(None)
    return JudgeStack(
        judge=CachedJudge(hygiene, cache),
        model=model.inner,
        hygiene=hygiene,
        cache=cache,
    )


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


@dataclass
class Event:
    """What a Faust agent's ``take_events`` hands over: the message."""

    message: Message


class RecordingTopic:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[bytes] = []

    async def send(self, *, key: bytes | None, value: bytes, force: bool) -> asyncio.Future[None]:
        self.sent.append(value)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


class RecordingApp:
    """The part of a Faust app :class:`ScoringIO` uses: topics, which record what they send."""

    def __init__(self) -> None:
        self.topics: dict[str, RecordingTopic] = {}

    def topic(self, name: str, **_: Any) -> RecordingTopic:
        return self.topics.setdefault(name, RecordingTopic(name))


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        store_path=tmp_path / "store.duckdb", data_dir=tmp_path / "data", judge="offline"
    )


def live(settings: Settings, episodes: list[list[AnyEvent]]) -> dict[str, bytes]:
    """The verdict events the live judging agent publishes, by event id."""
    app = RecordingApp()
    io = ScoringIO(app, settings)  # type: ignore[arg-type]
    io.stamper = Stamper(replay_run.SOURCE, lambda: NOW)
    pairs = RecordingTopic("drift-pairs")
    judging = Judging(io, {}, stack(settings), load_reward_config(), pairs, Redactor(None))
    episodes_topic = topic_name(Topic.EPISODES, settings.topic_prefix)
    offset = 0
    for events in episodes:  # one batch an episode
        batch = []
        for event in events:
            batch.append(Event(Message(episodes_topic, 0, offset, encode(event))))
            offset += 1
        asyncio.run(judging.process(batch))  # type: ignore[arg-type]
    assert judging.stats.judged > 0 and pairs.sent  # it judged, and fed the drift detector
    sent = app.topics[topic_name(Topic.VERDICTS, settings.topic_prefix)].sent
    published = {str(decode(value).event_id): value for value in sent}
    assert len(published) == len(sent)
    return published


def replayed(
    settings: Settings, episodes: list[list[AnyEvent]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """The verdict events a replay of the stored episodes appends, by event id."""
    store_events(settings.store.path, [e for events in episodes for e in events])
    monkeypatch.setattr(replay_run, "judge_stack", stack)
    report = asyncio.run(run_replay(settings, ReplayOptions(), clock=lambda: NOW))
    assert report.mode == "direct" and report.judge.asked > 0
    reader = open_store(settings.store.path)
    try:
        rows = reader.query(
            "SELECT event_id, payload::VARCHAR AS payload FROM events "
            "WHERE type IN ('JudgeVerdict', 'JudgeFailed')"
        ).to_pylist()
    finally:
        reader.close()
    return {row["event_id"]: row["payload"].encode() for row in rows}


def test_live_and_replayed_verdict_events_are_byte_identical(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    episodes = [episode(i) for i in EPISODES]
    published = live(settings, episodes)
    appended = replayed(settings, episodes, monkeypatch)

    assert set(appended) == set(published)
    for event_id, value in published.items():
        assert appended[event_id] == value, event_id
    # every kind of answer was compared: a failure, a verdict, its swapped-order
    # repeat, and a verdict whose repeat failed (no swapped event)
    events = [decode(value) for value in published.values()]
    assert any(isinstance(e, JudgeFailed) for e in events)
    verdicts = [e for e in events if isinstance(e, JudgeVerdict)]
    swapped = {e.decision_id for e in verdicts if e.swapped}
    canonical = {e.decision_id for e in verdicts if not e.swapped}
    assert swapped and swapped < canonical
