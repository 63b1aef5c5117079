"""The environment worker publishes whole episodes, keyed by episode_id, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from dojo.config import Settings
from dojo.env.protocol import Observation
from dojo.events import EpisodeStarted, decode
from dojo.topics import Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.env_worker import run_env_worker
from dojo.workers.rollout import Action


class RecordingActor(ReferenceActor):
    """The senior policy, noting when the worker offers it a moment to change weights."""

    def __init__(self) -> None:
        super().__init__("senior")
        self.calls: list[str] = []

    def act_episodes(
        self, episodes: Sequence[str], observations: Sequence[Observation], seeds: Sequence[int]
    ) -> list[Action]:
        self.calls += ["act"] * len(observations)
        return super().act_episodes(episodes, observations, seeds)

    def between_episodes(self) -> None:
        self.calls.append("between")


async def _consume(settings: Settings, expected: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic_name(Topic.EPISODES, settings.topic_prefix),
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[tuple[int, bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < expected:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    seen += [(tp.partition, r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    return seen


async def test_whole_episodes_keyed_by_episode_id(kafka_settings: Settings) -> None:
    actor = RecordingActor()
    settings = kafka_settings.replace(env_lockstep=3)
    report = await run_env_worker(settings, index=3, episodes=4, actor=actor)
    assert report.episodes == 4
    assert report.by_type["EpisodeStarted"] == report.by_type["EpisodeCompleted"] == 4
    messages = await _consume(kafka_settings, report.events)
    assert len(messages) == report.events

    by_episode: dict[str, list[tuple[int, object]]] = defaultdict(list)
    for partition, key, value in messages:
        event = decode(value)
        assert key == str(getattr(event, "episode_id", "")).encode()
        by_episode[key.decode()].append((partition, event))
    assert len(by_episode) == 4
    for episode_id, items in by_episode.items():
        partitions = {p for p, _ in items}
        events = [e for _, e in items]
        assert len(partitions) == 1, f"{episode_id} spread over {partitions}"
        assert events[0].event_type == "EpisodeStarted"  # type: ignore[attr-defined]
        assert events[-1].event_type == "EpisodeCompleted"  # type: ignore[attr-defined]
        assert events[-1].event_count == len(events) - 1  # type: ignore[attr-defined]
        assert all(e.source.startswith("env-worker-3@") for e in events)  # type: ignore[attr-defined]
    # the weights may change before every round of episodes played side by side (3,
    # then the 1 left), never inside one: each round's moves all come after its call
    assert actor.calls[0] == "between" and actor.calls.count("between") == 2
    second = actor.calls.index("between", 1)
    decisions_first_round = report.by_type["DecisionMade"] - actor.calls[second:].count("act")
    assert actor.calls[1:second] == ["act"] * decisions_first_round
    assert actor.calls[second + 1] == "act"


async def test_the_episode_types_setting_confines_what_the_worker_plays(
    kafka_settings: Settings,
) -> None:
    # stage 1's director draws from five types: six E-1.4 in a row would be chance 1 in 15,625
    settings = kafka_settings.replace(env_episode_types=("E-1.4",))
    report = await run_env_worker(settings, index=0, episodes=6, actor=ReferenceActor("senior"))
    events = [decode(value) for _, _, value in await _consume(kafka_settings, report.events)]
    started = [e for e in events if isinstance(e, EpisodeStarted)]
    assert [e.spec.episode_type for e in started] == ["E-1.4"] * 6


class FollowingActor(ReferenceActor):
    """The senior policy, as if acting a published version whose returns say research lags."""

    def __init__(self) -> None:
        super().__init__("senior")
        self.type_returns = {"E-1.1": 0.9, "E-1.2": 0.9, "E-1.3": 0.9, "E-1.4": 0.9, "E-1.5": 0.1}


async def test_the_worker_deals_more_of_the_type_the_acting_version_is_weakest_at(
    kafka_settings: Settings,
) -> None:
    # all focus on the weakest: E-1.5 gets all but e^-8 of the weight; uniform dealing
    # would give eight E-1.5 in a row by chance 1 in 390,625
    settings = kafka_settings.replace(env_focus=1.0, env_lockstep=4)
    report = await run_env_worker(settings, index=0, episodes=8, actor=FollowingActor())
    events = [decode(value) for _, _, value in await _consume(kafka_settings, report.events)]
    started = [e for e in events if isinstance(e, EpisodeStarted)]
    assert [e.spec.episode_type for e in started] == ["E-1.5"] * 8


def test_episode_types_come_comma_separated_or_as_the_json_list_children_get(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOJO_ENV_EPISODE_TYPES", " E-1.2,E-1.4 ,E-1.2")
    assert Settings().env.episode_types == ("E-1.2", "E-1.4")
    monkeypatch.setenv("DOJO_ENV_EPISODE_TYPES", '["E-2.1"]')
    assert Settings().env.episode_types == ("E-2.1",)
    monkeypatch.setenv("DOJO_ENV_EPISODE_TYPES", "")
    assert Settings().env.episode_types == ()  # the director chooses
    monkeypatch.setenv("DOJO_ENV_EPISODE_TYPES", "E-1.1,E-7.7")
    with pytest.raises(ValidationError, match=r"unknown episode type\(s\) E-7.7; known: E-1.1"):
        Settings()


@pytest.mark.parametrize("lockstep", [1, 3])
async def test_a_stop_request_lets_the_episodes_in_hand_finish(
    kafka_settings: Settings, lockstep: int
) -> None:
    stop = asyncio.Event()
    report = await run_env_worker(
        kafka_settings.replace(env_lockstep=lockstep),
        actor=ReferenceActor("junior"),
        stop=stop,
        on_episode=lambda r: stop.set() if r.episodes == 2 else None,
    )
    # one at a time: the second episode was the one in hand; side by side: its round of 3
    assert report.episodes == (2 if lockstep == 1 else 3)
    assert report.by_type["EpisodeStarted"] == report.by_type["EpisodeCompleted"] == report.episodes
