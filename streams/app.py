"""Building Faust apps for Dojo: broker, credentials, topics — all from Settings.

Topics are created beforehand from the topic table (``dojo.broker.admin``), so
apps never declare them: a topic first created by Faust would get the broker's
default partition count.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode.utils.queues import FlowControlEvent

from dojo.broker.connection import faust_broker_options
from dojo.broker.offsets import log_end_offsets
from dojo.config import Settings
from dojo.topics import Topic, topic_name

log = logging.getLogger(__name__)

#: the exit status of a worker that stalled past its session (EX_TEMPFAIL): start it again
STALLED_EXIT = 75


def create_app(name: str, settings: Settings, *, web_port: int, **overrides: Any) -> faust.App:
    """A Faust app named ``<prefix>-<name>``: its id is also its consumer group."""
    options: dict[str, Any] = {
        **faust_broker_options(settings),
        "value_serializer": "raw",
        "key_serializer": "raw",
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.consumer.session_timeout_s,
        "broker_heartbeat_interval": settings.consumer.heartbeat_interval_s,
        "broker_commit_interval": settings.consumer.commit_interval_s,
        "producer_acks": -1,
        # a few milliseconds of batching: Faust's default sends each message as soon
        # as it can, a produce request (and a broker round) for every one or two
        "producer_linger": 0.005,
        "processing_guarantee": "at_least_once",
        "web_enabled": True,
        "web_port": web_port,
        # loopback on a laptop; 0.0.0.0 in a container, where the sink serves the store
        # to readers on other hosts (DOJO_STORE_URL)
        "web_bind": settings.streams.web_host,
        "web_host": "127.0.0.1",
        "datadir": str(settings.data_dir / "faust" / name),
        "store": "memory://",
    }
    options.update(overrides)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    read_log_ends_by_fetch(settings)
    keep_delivered_messages_on_resume()
    app = faust.App(f"{settings.topic_prefix}-{name}", **options)
    exit_after_a_stall(app, settings.consumer.session_timeout_s)
    return app


def exit_after_a_stall(app: faust.App, session_timeout_s: float, every_s: float = 1.0) -> None:
    """End the worker (status :data:`STALLED_EXIT`) when it wakes from a stall longer than
    its session timeout, for ``dojo up`` (or the orchestrator) to start it afresh.

    A process stopped or starved that long has been dropped from its consumer group,
    and others hold its partitions. Faust's consumer does not come back from that
    reliably: under load a member that rejoined rebuilt its tables from changelogs that
    never arrived, or never fetched a partition it was given again, and the episodes
    there waited forever. A new process joins like any other (its state rebuilt from
    the changelogs, its input read from the committed offsets), and what the stalled
    one did not finish is delivered again.
    """

    @app.task
    async def stall_watch() -> None:
        last = time.monotonic()  # from the app's start: starting up is no stall
        while True:
            await asyncio.sleep(every_s)
            now = time.monotonic()
            stalled_s, last = now - last - every_s, now
            if stalled_s > session_timeout_s:
                log.error(
                    "stalled for %.1f s, past the session timeout of %g s: the group has "
                    "given this worker's partitions to others; exiting (status %d) to start "
                    "afresh",
                    stalled_s,
                    session_timeout_s,
                    STALLED_EXIT,
                )
                logging.shutdown()
                os._exit(STALLED_EXIT)


def read_log_ends_by_fetch(settings: Settings) -> None:
    """Have Faust read where changelogs end from a fetch (:mod:`dojo.broker.offsets`).

    A table is rebuilt from its changelog up to what Faust takes for the log's end;
    on the embedded broker that stopped short of the last batch's tail, and a scoring
    worker taking partitions over rebuilt episodes without their latest changes (an
    answered judgement lost, the episode never assembled). Faust has no setting for
    it, so its consumer's method is replaced, for every app of the process.
    """

    async def _highwaters(self: Any, partitions: list[Any]) -> Any:
        consumer = self._ensure_consumer()
        if self.consumer.in_transaction:
            return {tp: consumer.last_stable_offset(tp) for tp in partitions}
        return await log_end_offsets(settings, partitions)

    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]


def keep_delivered_messages_on_resume() -> None:
    """Have Faust's flow control clear its queues only when flow resumes after a suspension.

    Faust suspends the flow into its agents' queues (and the changelog queue of table
    recovery) when partitions are revoked, and clears every queue whenever the flow is
    resumed, to drop what was buffered before the suspension. But it also resumes a
    flow that is already running: when a recovery completes (after the changelogs were
    read with the flow on) it resumes the stream partitions, seeks them, and resumes the
    flow again; and after a member lost its session (a stalled process) its partitions
    are revoked with none assigned, so the flow is never suspended before the next
    recovery resumes it. Messages the fetcher delivered in between were cleared, the
    consumer had already read past them, and nobody ever saw them: a scoring worker lost
    the first events it fetched after taking partitions over (an episode's EpisodeStarted,
    a decision) or waited forever for a changelog it had emptied. Faust has no setting
    for it, so the method is replaced, for every app of the process.
    """

    def resume(self: FlowControlEvent) -> None:
        if self._suspend.is_set():
            self._suspend.clear()
            self.clear()  # what was buffered before the suspension
        self._resume.set()

    FlowControlEvent.resume = resume  # type: ignore[method-assign]


def raw_topic(app: faust.App, settings: Settings, *topics: Topic) -> Any:
    """One Faust topic object over several of Dojo's topics, carrying raw bytes."""
    return app.topic(
        *(topic_name(t, settings.topic_prefix) for t in topics),
        value_type=bytes,
        key_type=bytes,
        value_serializer="raw",
        key_serializer="raw",
        allow_empty=True,
    )


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion from synchronous code (building an app), inside a running
    loop or not."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
