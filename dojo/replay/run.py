"""``dojo replay``: re-score stored history under a reward config (and a judge), append the
new rows, compare with an earlier version, optionally republish trajectories.

Nothing is overwritten: new rewards are new rows (their ids derive from the
decision, the reward version and the judge version), and rows that already
exist — a replay run before, or the live system under the same config — are
recognised by id and left alone.

How the rows reach the store respects its single writer:

* **no live writer** (the sink is not running): the replay opens the store
  itself, for the duration of the append only, and writes the events through
  the store's own projection (``StoreWriter.write_table``);
* **a live sink holds the store** (it advertises its query endpoint): the
  replay publishes the rewards and verdicts to their topics, where the sink
  stores them like any event, and waits until they are stored. That needs the
  broker (``DOJO_KAFKA_BOOTSTRAP``); without it the replay stops with an error
  before doing any work.

``--publish`` sends one TrajectoryScored per replayed episode to the
trajectories topic (:mod:`dojo.replay.publish`), which needs the broker too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from dojo.config import Settings
from dojo.events import Stamper, encode
from dojo.judge.cache import CachedJudge
from dojo.judge.factory import JudgeStack, judge_stack
from dojo.judge.store_cache import StoreVerdictCache
from dojo.replay.compare import Comparison, NewSide, compare, old_side
from dojo.replay.history import (
    History,
    ReplayFilter,
    load_history,
    reward_versions,
)
from dojo.replay.judging import (
    BorrowedReader,
    JudgeCounts,
    VerdictEvent,
    judge_missing,
    with_scores,
)
from dojo.replay.publish import Publisher, trajectory_events
from dojo.replay.rescore import RewardTables, batches, rescore
from dojo.replay.rows import DIRECT_TOPIC, direct_batch, reward_events, unstored
from dojo.reward import RewardConfig, load_reward_config
from dojo.store import Received, StoreReader, StoreWriter, open_store
from dojo.store.writer import endpoint_file
from dojo.topics import Topic

SOURCE = "dojo-replay"


class StoreBusy(RuntimeError):
    """The store is held by another process and the replay has no way to reach it."""


class ReplayOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reward_config: Path | None = Field(
        default=None, description="reward config YAML; unset: DOJO_REWARD_CONFIG or the default"
    )
    judge: Literal["offline", "anthropic"] | None = Field(
        default=None, description="unset: DOJO_JUDGE"
    )
    filter: ReplayFilter = ReplayFilter()
    publish: bool = False
    against: str | None = Field(
        default=None, description="reward version to compare with; unset: the most stored other"
    )
    retry_failed: bool = Field(default=False, description="ask again where the judge failed")
    batch_size: int = Field(default=100_000, ge=1)
    top: int = Field(default=10, ge=0, description="episodes listed among those that moved most")
    wait_s: float = Field(
        default=300.0, gt=0, description="how long to wait for a live sink to store the rows"
    )


class ReplayReport(BaseModel):
    store: str
    mode: Literal["direct", "kafka"]
    reward_version: str
    judge_version: str
    episodes: int
    decisions: int
    torn_episodes_skipped: int
    judge: JudgeCounts
    rewards_computed: int
    rewards_new: int
    rewards_already_stored: int
    stored: dict[str, int] = Field(
        default_factory=dict, description="rows inserted per table (direct mode)"
    )
    published: dict[str, int] = Field(default_factory=dict, description="messages per topic")
    trajectories_untrainable: int = 0
    comparison: Comparison | None = None
    seconds: dict[str, float] = Field(default_factory=dict)


class Progress(Protocol):
    """Where a replay reports progress (the CLI draws bars; tests pass nothing)."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def update(self, completed: int) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def update(self, completed: int) -> None:
        pass


def live_writer(store: Path) -> dict[str, object] | None:
    """The advert of the live process that holds ``store``, if there is one."""
    advert = endpoint_file(store)
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(advert.read_text())
        pid = int(info.get("pid", -1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return dict(info)
    return None


def _judge(settings: Settings, options: ReplayOptions) -> JudgeStack:
    if options.judge is not None:
        settings = settings.replace(judge=options.judge)
    return judge_stack(settings)


def _stored_answers(reader: StoreReader, stack: JudgeStack) -> tuple[CachedJudge, StoreVerdictCache]:  # fmt: skip
    """The stack with a verdict cache backed by the replay's own reader: whatever the judge,
    a stored verdict on the same content is reused, never asked for again."""
    cache = StoreVerdictCache(lambda: BorrowedReader(reader))
    return CachedJudge(stack.hygiene, cache), cache


def _batches(history: History, size: int) -> Iterator[tuple[pa.Table, pa.Table]]:
    return batches(history.decisions, history.episodes, size)


async def replay(
    settings: Settings,
    options: ReplayOptions,
    *,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReplayReport:
    """Re-score the selected history (see the module docstring)."""
    progress = progress or _Silent()
    store = Path(settings.store.path)
    config = load_reward_config(options.reward_config or settings.reward_config)
    live = live_writer(store)
    mode: Literal["direct", "kafka"] = "kafka" if live else "direct"
    if (live or options.publish) and settings.kafka.bootstrap is None:
        why = (
            f"the store is held by a live sink (pid {live['pid']}), so the replay sends its "
            "rows through the broker for the sink to store"
            if live
            else "--publish sends trajectories to the broker"
        )
        raise StoreBusy(f"{why}, and no broker is configured: set DOJO_KAFKA_BOOTSTRAP")
    stack = _judge(settings, options)
    stamper = Stamper(SOURCE, clock)
    produced_at = clock()
    timings: dict[str, float] = {}
    conn = duckdb.connect()
    try:
        started = time.perf_counter()
        progress.stage("loading history")
        reader = open_store(store)
        try:
            history = load_history(reader, options.filter, stack.version, config.reward_version)
            timings["load"] = time.perf_counter() - started

            started = time.perf_counter()
            judge, cache = _stored_answers(reader, stack)

            def judging(done: int, total: int) -> None:
                if done == 0:
                    progress.stage("judging", total)
                progress.update(done)

            judged = await judge_missing(
                reader,
                history.decisions,
                judge,
                cache,
                stamper,
                conn,
                tolerance=stack.hygiene.config.tolerance,
                retry_failed=options.retry_failed,
                progress=judging,
            )
            history = History(
                episodes=history.episodes,
                decisions=with_scores(history.decisions, judged.scores),
                torn=history.torn,
            )
            timings["judge"] = time.perf_counter() - started

            versions = reward_versions(reader, options.filter)
            against = options.against or _default_against(versions, config.reward_version)
            old = old_side(reader, options.filter, against) if against else None
        finally:
            if mode == "direct":
                reader.close()

        tables = RewardTables(config)
        new_side = NewSide()
        counts = {"new": 0, "existing": 0}
        stored: dict[str, int] = {}
        published: dict[str, int] = {}
        started = time.perf_counter()

        def rescored() -> Iterator[tuple[pa.Table, pa.Table]]:
            """Batches of (scored rows, their DecisionRewarded events not stored yet)."""
            done = 0
            progress.stage("re-scoring", history.decisions.num_rows)
            for decisions, episodes in _batches(history, options.batch_size):
                scored = rescore(decisions, episodes, tables, stack.version, conn)
                # only rows not stored yet become events (ids first, payloads after)
                fresh = unstored(
                    scored, decisions.column("stored_ids"), config.reward_version, conn
                )
                new_events = reward_events(
                    scored.filter(fresh), config.reward_version, produced_at, SOURCE, conn
                )
                counts["new"] += new_events.num_rows
                counts["existing"] += scored.num_rows - new_events.num_rows
                new_side.add(scored, conn)
                yield scored, new_events
                done += decisions.num_rows
                progress.update(done)

        if mode == "direct":
            stored = _append_direct(store, judged.events, rescored())
        else:
            async with Publisher(settings) as publisher:
                published = await _append_kafka(
                    publisher, reader, judged.events, rescored(), options.wait_s, progress
                )
        timings["rescore_and_append"] = time.perf_counter() - started

        trajectories_untrainable = 0
        if options.publish:
            started = time.perf_counter()
            sent, trajectories_untrainable = await _publish_trajectories(
                settings, store, history, tables, config, stack.version, produced_at, conn,
                options.batch_size, progress, reader if mode == "kafka" else None,
            )  # fmt: skip
            published[Topic.TRAJECTORIES.value] = sent
            timings["publish"] = time.perf_counter() - started
        if mode == "kafka":
            reader.close()

        comparison = (
            compare(against, old, config.reward_version, new_side, conn, options.top)
            if against and old is not None
            else None
        )
    finally:
        conn.close()
        await stack.aclose()
    return ReplayReport(
        store=str(store),
        mode=mode,
        reward_version=config.reward_version,
        judge_version=stack.version,
        episodes=history.episodes.num_rows,
        decisions=history.decisions.num_rows,
        torn_episodes_skipped=history.torn,
        judge=judged.counts,
        rewards_computed=counts["new"] + counts["existing"],
        rewards_new=counts["new"],
        rewards_already_stored=counts["existing"],
        stored=stored,
        published=published,
        trajectories_untrainable=trajectories_untrainable,
        comparison=comparison,
        seconds={k: round(v, 3) for k, v in timings.items()},
    )


def _default_against(versions: dict[str, int], new: str) -> str | None:
    """The reward version to compare with: the most stored other one, else the same one."""
    others = [v for v in versions if v != new]
    if others:
        return others[0]
    return new if new in versions else None


def _append_direct(
    store: Path, verdicts: list[VerdictEvent], batches_: Iterator[tuple[pa.Table, pa.Table]]
) -> dict[str, int]:
    """Write into the store as its (momentary) single writer."""
    try:
        writer = StoreWriter(store, lock_timeout=5.0)
    except duckdb.IOException as exc:
        raise StoreBusy(
            f"{store} is locked by another process that advertises no query endpoint "
            f"(a sink starting, or another replay?): {exc}"
        ) from None
    inserted: dict[str, int] = {}

    def add(counts: dict[str, int]) -> None:
        for table, n in counts.items():
            inserted[table] = inserted.get(table, 0) + n

    try:
        if verdicts:
            add(writer.write([Received(e, encode(e), DIRECT_TOPIC, -1, -1) for e in verdicts]))
        for _, new_events in batches_:
            if new_events.num_rows:
                add(
                    writer.write_table(
                        direct_batch(new_events.column("payload"), "DecisionRewarded"),
                        {"DecisionRewarded"},
                    )
                )
    finally:
        writer.close()
    return inserted


async def _append_kafka(
    publisher: Publisher,
    reader: StoreReader,
    verdicts: list[VerdictEvent],
    batches_: Iterator[tuple[pa.Table, pa.Table]],
    wait_s: float,
    progress: Progress,
) -> dict[str, int]:
    """Publish for the live sink to store, then wait until it has stored every row."""
    sent: dict[str, int] = {}
    sent[Topic.VERDICTS.value] = await publisher.send(
        Topic.VERDICTS, ((e.episode_id, encode(e)) for e in verdicts)
    )
    ids: list[pa.Array] = []
    rewards = 0
    for _, new_events in batches_:
        rewards += await publisher.send(
            Topic.REWARDS,
            zip(
                new_events.column("episode_id").to_pylist(),
                new_events.column("payload").to_pylist(),
                strict=True,
            ),
        )
        ids.append(new_events.column("event_id").combine_chunks())
    sent[Topic.REWARDS.value] = rewards
    progress.stage("waiting for the sink to store them", rewards)
    wanted = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    verdict_ids = pa.array([str(e.event_id) for e in verdicts], pa.string())
    deadline = time.monotonic() + wait_s
    while True:
        stored = await asyncio.to_thread(_count_stored, reader, "rewards", wanted)
        stored_verdicts = await asyncio.to_thread(_count_stored, reader, "verdicts", verdict_ids)
        progress.update(stored)
        if stored >= len(wanted) and stored_verdicts >= len(verdict_ids):
            return sent
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the live sink stored {stored} of {len(wanted)} replayed rewards and "
                f"{stored_verdicts} of {len(verdict_ids)} verdicts within {wait_s:g} s; they are "
                "published and will be stored when it catches up (a later replay adds nothing twice)"
            )
        await asyncio.sleep(0.5)


def _count_stored(reader: StoreReader, table: str, ids: pa.Array, chunk: int = 50_000) -> int:
    total = 0
    for start in range(0, len(ids), chunk):
        part = ids.slice(start, chunk).to_pylist()
        rows = reader.query(
            f"SELECT count(*) AS n FROM {table} WHERE event_id IN (SELECT unnest(?::UUID[]))",
            [part],
        ).to_pylist()
        total += int(rows[0]["n"])
    return total


async def _publish_trajectories(
    settings: Settings,
    store: Path,
    history: History,
    tables: RewardTables,
    config: RewardConfig,
    judge_version: str,
    produced_at: datetime,
    conn: duckdb.DuckDBPyConnection,
    batch_size: int,
    progress: Progress,
    reader: StoreReader | None,
) -> tuple[int, int]:
    """One TrajectoryScored per replayed episode with tokens; returns (sent, untrainable)."""
    own = reader is None
    reader = reader or open_store(store)
    sent = untrainable = 0
    progress.stage("publishing trajectories", history.episodes.num_rows)
    try:
        async with Publisher(settings) as publisher:
            for decisions, episodes in _batches(history, batch_size):
                scored = rescore(decisions, episodes, tables, judge_version, conn)
                events, left_out = trajectory_events(
                    reader, scored, config.reward_version, produced_at, SOURCE, conn
                )
                untrainable += left_out
                sent += await publisher.send(
                    Topic.TRAJECTORIES,
                    zip(
                        events.column("episode_id").to_pylist(),
                        events.column("payload").to_pylist(),
                        strict=True,
                    ),
                )
                progress.update(sent + untrainable)
    finally:
        if own:
            reader.close()
    return sent, untrainable
