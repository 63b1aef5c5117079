"""Two scoring workers share the episode partitions; one is SIGKILLed; the other takes over.

The scoring app scales by partition: its workers form one consumer group and
split the co-partitioned episode topics between them, each holding the table
state of its own partitions (changelogged to Kafka). Here two worker processes
split the four partitions; one of them is SIGKILLed with half an episode of its
partitions processed, committed and held only in its tables; the survivor must
get every partition within the session timeout, rebuild that state from the
changelogs and finish the episode. Then every event id is accounted for in the
store (one real, single sink): each decision has exactly one reward, each due
decision one verdict, each episode one trajectory, each with the id derived
from what it is — nothing lost, nothing duplicated. What at-least-once delivery
redelivered on the wire is counted and shown, and the store holds it once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from scoring_support import Worker, episode_events, publish, query, run, scoring_lag, wait_for

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.events import AnyEvent, DecisionMade, decode, derive_event_id
from dojo.judge.factory import judge_stack
from dojo.judge.selection import is_due
from dojo.reward import load_reward_config
from dojo.topics import EPISODE_PARTITIONS, Topic, topic_name
from streams.adverts import live_adverts
from streams.app import STALLED_EXIT
from streams.state import episode_partition

pytestmark = pytest.mark.timeout(300)

ALL_PARTITIONS = set(range(EPISODE_PARTITIONS))
FIRST = range(0, 8)  # published while both workers run
SECOND = range(8, 16)  # around the kill; one of them straddles it


def partitions_of(settings: Settings, worker: Worker) -> set[int] | None:
    """The episode partitions a live scoring worker holds (its /scoring/stats)."""
    for advert in live_adverts(settings, "scoring"):
        if advert.pid == worker.pid:
            try:
                stats = httpx.get(f"{advert.url}/scoring/stats", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                return None  # busy rebalancing: ask again
            return set(stats["partitions"])
    return None


def split_between(
    settings: Settings, first: Worker, second: Worker
) -> tuple[set[int], set[int]] | None:
    """The partitions each of two live scoring workers holds, once they hold all of them."""
    held = partitions_of(settings, first), partitions_of(settings, second)
    if held[0] and held[1] and held[0] | held[1] == ALL_PARTITIONS:
        return held[0], held[1]
    return None


def stored_trajectories(settings: Settings) -> int:
    rows = query(settings, "SELECT count(*) AS n FROM trajectories")
    return int(rows[0]["n"]) if rows else 0


async def read_topic(settings: Settings, topic: Topic) -> list[bytes]:
    """Every message on ``topic``, from the start (no group: nothing is committed)."""
    consumer = AIOKafkaConsumer(
        topic_name(topic, settings.topic_prefix),
        **aiokafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        while batch := await consumer.getmany(timeout_ms=2000, max_records=5000):
            values += [m.value for messages in batch.values() for m in messages if m.value]
        return values
    finally:
        await consumer.stop()


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return kafka_settings.replace(
        scoring_batch_within_s=0.1,
        sink_batch_within_s=0.1,
        consumer_commit_interval_s=0.5,
        drift_window_s=2,
        drift_lateness_s=1.0,
    )


@pytest.fixture
def workers(settings: Settings) -> Iterator[tuple[Worker, Worker, Worker]]:
    logs = settings.data_dir.parent
    # info: the logs then show each rebalance's assignment and recovery, which a failure needs
    sink = Worker(settings, "sink", logs / "sink.log", DOJO_LOG_LEVEL="info").start()
    first = Worker(settings, "scoring", logs / "scoring-a.log", DOJO_LOG_LEVEL="info").start()
    second = Worker(settings, "scoring", logs / "scoring-b.log", DOJO_LOG_LEVEL="info").start()
    try:
        for worker in (sink, first, second):
            worker.wait_ready()
        yield sink, first, second
    finally:
        for worker in (first, second, sink):
            worker.stop()


@pytest.mark.xfail(
    strict=False,
    reason="issue 24, open: now and then the survivor never fetches a partition it took "
    "over (one fresh-clone suite run on an idle machine: episodes/0 never consumed after "
    "the takeover, no error logged); 20 of 20 in a loaded loop",
)
def test_the_survivor_takes_over_and_every_event_id_is_accounted_for(
    settings: Settings, workers: tuple[Worker, Worker, Worker]
) -> None:
    try:
        take_over(settings, *workers)
    except AssertionError:
        # the report then tells each rebalance, recovery and dead letter of the survivor
        print(f"--- {workers[2].log.name}\n{workers[2].text()}")
        raise


def take_over(settings: Settings, sink: Worker, first: Worker, second: Worker) -> None:
    def split() -> tuple[set[int], set[int]] | None:
        return split_between(settings, first, second)

    mine, theirs = wait_for(split, 120, "two scoring workers to split the partitions")
    assert not mine & theirs, (mine, theirs)

    published: list[AnyEvent] = [e for i in FIRST for e in episode_events(i)]
    run(publish(settings, published))
    wait_for(lambda: stored_trajectories(settings) == len(FIRST), 120, "the first round")

    # an episode on a partition of the worker about to die: its first half is processed
    # and committed, so the episode lives only in that worker's tables and their changelogs
    straddling = next(i for i in SECOND if episode_partition(f"ep-t{i:04d}".encode()) in mine)
    halves = episode_events(straddling)
    head, tail = halves[: len(halves) // 2], halves[len(halves) // 2 :]
    run(publish(settings, head))
    wait_for(lambda: run(scoring_lag(settings)) == 0, 60, "the half episode to be committed")

    first.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: partitions_of(settings, second) == ALL_PARTITIONS,
        settings.consumer.session_timeout_s + 60,
        "the survivor to hold every partition",
        every=0.1,
    )
    takeover_s = time.monotonic() - killed_at
    print(
        f"takeover after {takeover_s:.1f} s (session timeout {settings.consumer.session_timeout_s:g} s)"
    )
    # the dead member is found by its missed heartbeats (session timeout), not by a
    # slower path (Faust's 60 s rebalance timeout, the poll interval): allow only
    # the rebalance and the changelog recovery on a busy machine beyond it
    assert takeover_s < settings.consumer.session_timeout_s + 30

    rest = [e for i in SECOND if i != straddling for e in episode_events(i)]
    run(publish(settings, tail + rest))
    published += head + tail + rest
    episodes = {e.episode_id for e in published}
    wait_for(lambda: stored_trajectories(settings) >= len(episodes), 180, "the second round")
    wait_for(lambda: run(scoring_lag(settings)) == 0, 60, "scoring to commit everything")
    assert sink.alive() and second.alive()

    account(settings, published)


def account(settings: Settings, published: list[AnyEvent]) -> None:
    """Every result in the store has the id derived from what it is, exactly once."""
    reward_version = load_reward_config().reward_version
    stack = judge_stack(settings)
    decisions = {e.decision_id: e for e in published if isinstance(e, DecisionMade)}
    episodes = {e.episode_id for e in published}

    # the input: every published event stored once
    stored = Counter(str(r["event_id"]) for r in query(settings, "SELECT event_id FROM events"))
    assert {str(e.event_id) for e in published} <= set(stored)
    assert max(stored.values()) == 1

    def one_of(kind: str, *parts: str) -> set[str]:
        # a result's id names its judge version when a judge score fed it, else "-"
        return {str(derive_event_id(kind, *parts, j)) for j in (stack.version, "-")}

    rewards = query(settings, "SELECT event_id, decision_id, reward_version FROM rewards")
    per_decision = Counter(r["decision_id"] for r in rewards)
    assert set(per_decision) == set(decisions), "a decision without a reward, or a stray one"
    assert set(per_decision.values()) == {1}, "a decision rewarded twice"
    for row in rewards:
        assert row["reward_version"] == reward_version
        assert str(row["event_id"]) in one_of(
            "DecisionRewarded", row["decision_id"], reward_version
        )

    trajectories = query(settings, "SELECT event_id, episode_id FROM trajectories")
    per_episode = Counter(r["episode_id"] for r in trajectories)
    assert set(per_episode) == episodes and set(per_episode.values()) == {1}
    for row in trajectories:
        assert str(row["event_id"]) in one_of("TrajectoryScored", row["episode_id"], reward_version)

    due = {d for d, e in decisions.items() if is_due(d, e.episode_id, e.signals, stack.sampling)}
    verdicts = query(
        settings,
        "SELECT event_id, decision_id FROM verdicts WHERE swapped IS NULL OR NOT swapped",
    )
    assert due and Counter(r["decision_id"] for r in verdicts) == Counter(due)
    assert {str(r["event_id"]) for r in verdicts} == {
        str(derive_event_id("JudgeVerdict", d, stack.version)) for d in due
    }

    # the survivor rebuilt the straddling episode's state: no event was refused for it
    letters = query(settings, "SELECT consumer, error_type, reason FROM dead_letters")
    assert letters == [], letters

    # on the wire, at-least-once may have delivered a result twice; the store holds it once
    wire = Counter(
        str(decode(v).event_id) for v in asyncio.run(read_topic(settings, Topic.REWARDS))
    )
    assert set(wire) == {str(r["event_id"]) for r in rewards}
    print(
        f"{len(decisions)} decisions, {len(episodes)} episodes: rewards on the wire "
        f"{sum(wire.values())} ({sum(wire.values()) - len(wire)} redelivered), stored {len(rewards)}"
    )


def test_a_member_that_stalls_past_its_session_comes_back_to_current_state(
    settings: Settings, workers: tuple[Worker, Worker, Worker]
) -> None:
    """A scoring member goes silent longer than the session timeout (a stopped process,
    as a starved one under load): the other takes its partitions over and plays its
    episodes on; when it wakes it exits to be started afresh (as dojo up and an
    orchestrator do), and when the group splits the partitions again, whoever holds an
    episode goes on from its current state, never from what it held before."""
    _, first, second = workers
    try:
        stall(settings, first, second)
    except AssertionError:
        for worker in (first, second):
            print(f"--- {worker.log.name}\n{worker.text()[-20000:]}")
        raise


def stall(settings: Settings, first: Worker, second: Worker) -> None:
    def split() -> tuple[set[int], set[int]] | None:
        return split_between(settings, first, second)

    mine, _ = wait_for(split, 120, "two scoring workers to split the partitions")
    # episodes of the partitions of the member that stalls, each played in three parts:
    # before the stall (by it), during it (by the other), after it (by either)
    played = [i for i in range(100, 200) if episode_partition(f"ep-t{i:04d}".encode()) in mine]
    episodes = [episode_events(i) for i in played[:4]]
    thirds = [
        (e[: len(e) // 3], e[len(e) // 3 : 2 * len(e) // 3], e[2 * len(e) // 3 :]) for e in episodes
    ]
    published: list[AnyEvent] = []

    def publish_part(part: int) -> None:
        events = [e for parts in thirds for e in parts[part]]
        run(publish(settings, events))
        published.extend(events)
        wait_for(lambda: run(scoring_lag(settings)) == 0, 120, f"part {part + 1} to be committed")

    publish_part(0)
    first.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        wait_for(
            lambda: partitions_of(settings, second) == ALL_PARTITIONS,
            settings.consumer.session_timeout_s + 60,
            "the other member to hold every partition",
        )
        publish_part(1)
    finally:
        first.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
    assert first.process is not None
    assert first.process.wait(60) == STALLED_EXIT
    assert "past the session timeout" in first.text()
    started = first.text().count("scoring ready")
    first.start()
    wait_for(lambda: first.text().count("scoring ready") > started, 120, "the member's restart")
    wait_for(split, 120, "the members to split the partitions again")
    publish_part(2)
    wait_for(lambda: stored_trajectories(settings) >= len(episodes), 120, "every episode scored")
    assert first.alive() and second.alive()
    account(settings, published)
