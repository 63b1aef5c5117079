"""SIGKILL the parts of a running ``dojo up``, one after another, and account for it all.

:func:`run_with_faults` runs the supervisor of ``dojo up`` in this process and,
beside it, kills each target in turn — an environment worker, the sink, the
scoring app, the learner, the embedded broker — once the store shows some more
episodes completed since the previous fault, and notes how long until the
target ran again. When the run is over, every event id is accounted for
(:mod:`dojo.faults.accounting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.faults.accounting import Accounts, account, missing, published_ids
from dojo.store import StoreUnavailable, open_store
from dojo.topics import EPISODE_PARTITIONS, Topic, topic_name
from dojo.workers.services import Service
from dojo.workers.supervisor import RunSummary, Supervisor

log = logging.getLogger(__name__)

#: how long a mid-episode kill waits to catch one environment worker inside an episode
FREEZE_WINDOW_S = 30.0

Target = Literal["env-worker", "sink", "scoring", "learner", "broker"]
TARGETS: tuple[Target, ...] = ("env-worker", "sink", "scoring", "learner", "broker")


def fault_settings(folder: Path, **overrides: object) -> Settings:
    """Settings for a faulted ``dojo up`` in ``folder`` (store, data dir, ledgers on)."""
    values: dict[str, object] = {
        "store_path": folder / "store.duckdb",
        "data_dir": folder / "data",
        "env_workers": 2,
        "env_ledger": True,
        # a worker holds few unsettled episodes: it keeps pace with the pipeline, so the
        # faults land while episodes are in flight
        "env_max_held": 4,
        # short sessions: a restarted member gets its partitions within seconds
        "consumer_session_timeout_s": 6.0,
        "consumer_heartbeat_interval_s": 0.5,
        "restart_backoff_s": 0.5,
        "eval_quick_every": 0,
        "eval_full_every": 0,
        "curriculum_auto": False,
        "dashboard": False,
        **overrides,
    }
    return Settings(**values)


class Fault(BaseModel):
    target: Target
    #: the process killed, and when (seconds after the run started)
    process: str
    pid: int
    at_s: float
    episodes_completed_before: int
    #: seconds until a new process of the target ran; None if it never did
    recovered_after_s: float | None
    #: seconds until the store held every event acknowledged so far (None: not within the
    #: recovery timeout, or the run ended first)
    caught_up_after_s: float | None = None


class FaultRun(BaseModel):
    summary: RunSummary
    faults: list[Fault]
    accounts: Accounts


def completed_episodes(settings: Settings) -> int | None:
    """Completed episodes in the store; None while it cannot be read (the sink restarting)."""
    try:
        reader = open_store(settings.store.path, settings.store.url)
    except StoreUnavailable:
        return None
    try:
        sql = "SELECT count(*) FROM episodes WHERE completed_event_id IS NOT NULL"
        return int(reader.query(sql).column(0)[0].as_py())
    except Exception:  # the writer starting or stopping between two looks
        return None
    finally:
        reader.close()


async def _freeze_mid_episode(supervisor: Supervisor, settings: Settings, pid: int) -> bool:
    """Freeze process ``pid`` (SIGSTOP) at a moment when an episode of its own has started
    on the topic and not completed, so that a kill tears it; True once it is so frozen,
    False if that did not happen within ``FREEZE_WINDOW_S`` (it is running then).

    Read off the topic, not the store, whose batches can hold a whole quick episode;
    and frozen first, then checked, because a quick episode completes before any
    observer can react to its start.
    """
    bootstrap = supervisor.broker.bootstrap if supervisor.broker else settings.kafka.bootstrap
    live = settings.replace(kafka_bootstrap=bootstrap)
    topic = topic_name(Topic.EPISODES, settings.topic_prefix)
    consumer = AIOKafkaConsumer(**aiokafka_options(live), enable_auto_commit=False)
    await consumer.start()
    open_episodes: set[str] = set()

    async def read(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            batch = await consumer.getmany(timeout_ms=50)
            for record in (r for records in batch.values() for r in records):
                event = json.loads(record.value or b"{}")
                if not str(event.get("source", "")).endswith(f":{pid}"):
                    continue
                if event.get("type") == "EpisodeStarted":
                    open_episodes.add(event["episode_id"])
                elif event.get("type") == "EpisodeCompleted":
                    open_episodes.discard(event["episode_id"])

    try:
        partitions = [TopicPartition(topic, p) for p in range(EPISODE_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        deadline = time.monotonic() + FREEZE_WINDOW_S
        while time.monotonic() < deadline:
            await read(0.2)
            os.kill(pid, signal.SIGSTOP)
            await read(0.5)  # what it had sent before it froze
            if open_episodes:
                return True
            os.kill(pid, signal.SIGCONT)
        return False
    except ProcessLookupError:
        return False
    finally:
        await consumer.stop()


def _victims(supervisor: Supervisor, target: Target) -> list[tuple[str, int]]:
    """The live processes of ``target``, in start order."""
    if target == "broker":
        broker = supervisor.broker
        return [("broker", broker.pid)] if broker is not None and broker.pid else []
    return [
        (child.name, child.pid)
        for child in supervisor.children
        if (child.name == target or child.name.startswith(f"{target}-")) and child.alive()
    ]


def _all_stored(settings: Settings) -> bool:
    """Whether the store holds every event id the workers' ledgers list so far."""
    try:
        reader = open_store(settings.store.path, settings.store.url)
    except StoreUnavailable:
        return False
    try:
        published = published_ids(settings.data_dir)
        return not missing(reader, sorted({i for ids in published.values() for i in ids}))
    except Exception:
        return False
    finally:
        reader.close()


def _uptime(supervisor: Supervisor, name: str, pid: int) -> float:
    child = next((c for c in supervisor.children if c.name == name and c.pid == pid), None)
    return float("inf") if child is None else time.monotonic() - child.started


def _running_again(supervisor: Supervisor, name: str, old_pid: int) -> bool:
    if name == "broker":
        broker = supervisor.broker
        return broker is not None and broker.running() and broker.pid != old_pid
    return any(c.name == name and c.alive() and c.pid != old_pid for c in supervisor.children)


async def _ready_victim(
    supervisor: Supervisor,
    run: asyncio.Task[RunSummary],
    settings: Settings,
    target: Target,
    mid_episode: bool,
) -> tuple[str, int] | None:
    """A live process of ``target`` ready to be killed, or None once the run is over.

    With ``mid_episode``, each live environment worker in turn is given the chance to be
    caught (frozen) inside an episode; one that is not playing meanwhile (waiting for
    the learner, or cut off from a broker that just restarted) is passed over. When none
    is caught, the first is killed anyway, and the log says that nothing was torn."""
    tear = mid_episode and target == "env-worker"
    while not run.done():
        victims = _victims(supervisor, target)
        if not victims:
            return None
        chosen: tuple[str, int] | None = None
        for victim in victims:
            name, pid = victim
            # a child that dies right after its start counts as broken, not crashed (it
            # is not restarted, see dojo.workers.restarts): let it be up a while first
            while (
                not run.done() and _uptime(supervisor, name, pid) < supervisor.policy.min_uptime_s
            ):
                await asyncio.sleep(0.1)
            if not tear or await _freeze_mid_episode(supervisor, settings, pid):
                chosen = victim
                break
        if chosen is None:
            log.warning(
                "no environment worker was caught inside an episode within %g s each: "
                "the kill tears none",
                FREEZE_WINDOW_S,
            )
            chosen = victims[0]
        if chosen in _victims(supervisor, target):
            return chosen
        # it ended on its own meanwhile (a worker done with its share): another one
    return None


async def run_with_faults(
    settings: Settings,
    targets: list[Target],
    *,
    episodes: int,
    every: int,
    services: list[Service] | None = None,
    recovery_timeout_s: float = 120.0,
    mid_episode: bool = False,
) -> FaultRun:
    """Run ``dojo up``, kill each of ``targets`` after ``every`` more completed episodes,
    and stop it (as Ctrl-C does: workers finish the episode in hand, services drain) once
    every fault is behind it, every part runs again and at least ``episodes`` episodes
    (and ``every`` more than the last fault's turn) are complete. ``settings``
    should have ``env_ledger`` on, for the accounting.

    The workers play without a count of their own: with one, a run whose recoveries took
    long could end before its last fault was injected.

    ``mid_episode``: an environment worker is killed between the start and the end of one
    of its episodes (so the kill tears that episode), if one is caught so within
    ``FREEZE_WINDOW_S`` per worker;
    the run then goes on until the scoring app's episode TTL (and its sweep, every TTL / 4)
    has passed since the last fault, so the torn episode is dead-lettered within it."""
    supervisor = Supervisor(settings, episodes=None, live=False, services=services)
    started = time.monotonic()
    run = asyncio.create_task(supervisor.run())
    faults: list[Fault] = []
    # the supervisor resolves the store path; the injector reads the same store
    settings = settings.replace(store_path=settings.store.path.resolve())
    goal = 0
    for target in targets:
        goal += every
        while (
            not run.done() and ((await asyncio.to_thread(completed_episodes, settings)) or 0) < goal
        ):
            await asyncio.sleep(0.25)
        victim = await _ready_victim(supervisor, run, settings, target, mid_episode)
        if victim is None:
            break  # the run ended before this fault could be injected
        name, pid = victim
        before = await asyncio.to_thread(completed_episodes, settings)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        recovered: float | None = None
        while not run.done() and time.monotonic() - killed < recovery_timeout_s:
            if _running_again(supervisor, name, pid):
                recovered = time.monotonic() - killed
                break
            await asyncio.sleep(0.1)
        # faults come in turn: the next one once the store holds all that was acknowledged
        caught_up: float | None = None
        while not run.done() and time.monotonic() - killed < recovery_timeout_s:
            if await asyncio.to_thread(_all_stored, settings):
                caught_up = time.monotonic() - killed
                break
            await asyncio.sleep(0.5)
        faults.append(
            Fault(
                target=target,
                process=name,
                pid=pid,
                at_s=round(killed - started, 2),
                episodes_completed_before=before or 0,
                recovered_after_s=None if recovered is None else round(recovered, 2),
                caught_up_after_s=None if caught_up is None else round(caught_up, 2),
            )
        )
    # stopped only once the system is whole again (a stop while the last fault's restarts
    # are still waiting for a service to be ready fails the run) and has completed more
    # episodes since
    enough = max(episodes, goal + every)
    settle_s = settings.scoring.episode_ttl_s * 1.5 if mid_episode else 0.0
    linger_until = time.monotonic() + settle_s
    while not run.done() and (
        ((await asyncio.to_thread(completed_episodes, settings)) or 0) < enough
        or not supervisor.settled()
        or time.monotonic() < linger_until
    ):
        await asyncio.sleep(0.25)
    supervisor.request_stop()
    summary = await run
    reader = open_store(settings.store.path)
    try:
        accounts = await asyncio.to_thread(account, reader, settings.data_dir)
    finally:
        reader.close()
    return FaultRun(summary=summary, faults=faults, accounts=accounts)
