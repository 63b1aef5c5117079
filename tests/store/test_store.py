"""The episode store: migrations, idempotent batched writes, typed projections, stats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dojo.env.protocol import EpisodeSpec
from dojo.events import Stamper, decode, encode
from dojo.events.samples import sample_events
from dojo.store import Received, StoreUnavailable, StoreWriter, open_store, store_stats
from dojo.store.migrations import LATEST, migrate
from dojo.store.writer import ReadOnlyViolation, endpoint_file
from dojo.topics import TOPIC_OF_EVENT, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout


def received(events: list, first_offset: int = 0) -> list[Received]:  # type: ignore[type-arg]
    return [
        Received(e, encode(e), topic_name(TOPIC_OF_EVENT[e.type]), 0, first_offset + i)
        for i, e in enumerate(events)
    ]


def episode(episode_id: str, seed: int = 1, episode_type: str = "E-1.2") -> list:  # type: ignore[type-arg]
    spec = EpisodeSpec(episode_type=episode_type, seed=seed, stage=1)
    return list(rollout(spec, episode_id, ReferenceActor("senior"), Stamper("test")))


def test_migrations_run_once_and_record_themselves(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert migrate(conn) == list(range(1, LATEST + 1))
    assert migrate(conn) == []
    rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, LATEST + 1))
    conn.execute("INSERT INTO schema_migrations (version, description) VALUES (999, 'future')")
    with pytest.raises(RuntimeError, match="newer than this Dojo knows"):
        migrate(conn)


def test_a_batch_delivered_twice_is_stored_once(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.duckdb")
    try:
        batch = received(episode("ep-a") + episode("ep-b", seed=2))
        first = writer.write(batch)
        assert first["events"] == len(batch)
        again = writer.write(batch)
        # episodes is an upsert of start and completion (same values again): the
        # tables keyed by event_id insert nothing
        assert {t: n for t, n in again.items() if t != "episodes"} == {
            t: 0 for t in first if t != "episodes"
        }
        # a redelivery that overlaps the end of one batch and the start of the next
        more = received(episode("ep-c", seed=3), first_offset=len(batch))
        assert writer.write(batch[-5:] + more)["events"] == len(more)
        stats = store_stats(writer)
    finally:
        writer.close()
    total = len(batch) + len(more)
    assert stats.tables["events"].rows == stats.tables["events"].distinct_event_ids == total
    assert stats.episodes_completed == 3 and stats.episodes_incomplete == 0
    assert stats.consistent


def test_typed_tables_keep_the_token_record(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.duckdb")
    try:
        samples = sample_events()
        writer.write(received(samples))
        decision = next(e for e in samples if e.type == "DecisionMade")
        row = writer.query(
            "SELECT prompt_token_ids, completion_token_ids, logprobs, allowed_token_ids, "
            "policy_version, move_name FROM decisions WHERE event_id = ?",
            [str(decision.event_id)],
        ).to_pylist()
        counts = {
            t: writer.query(f"SELECT count(*) AS n FROM {t}").column(0)[0].as_py()
            for t in ("rewards", "verdicts", "trajectories", "drift_windows", "drift_alerts")
        }
        counts["policy_versions"] = (
            writer.query("SELECT count(*) FROM policy_versions").column(0)[0].as_py()
        )
        counts["eval_reports"] = (
            writer.query("SELECT count(*) FROM eval_reports").column(0)[0].as_py()
        )
        counts["dead_letters"] = (
            writer.query("SELECT count(*) FROM dead_letters").column(0)[0].as_py()
        )
        failed = writer.query("SELECT scores FROM verdicts WHERE status = 'failed'").to_pylist()
        raw = writer.query(
            "SELECT payload FROM events WHERE event_id = ?", [str(decision.event_id)]
        ).to_pylist()[0]["payload"]
    finally:
        writer.close()
    assert row == [
        {
            "prompt_token_ids": decision.prompt_token_ids,
            "completion_token_ids": decision.completion_token_ids,
            "logprobs": decision.logprobs,
            "allowed_token_ids": json.dumps(decision.allowed_token_ids, separators=(",", ":")),
            "policy_version": decision.policy_version,
            "move_name": decision.move.name,
        }
    ]
    assert counts == {
        "rewards": 1,
        "verdicts": 2,
        "trajectories": 1,
        "drift_windows": 1,
        "drift_alerts": 1,
        "policy_versions": 1,
        "eval_reports": 1,
        "dead_letters": 1,
    }
    assert failed == [{"scores": None}]  # a failed judgement stores no score
    assert decode(raw) == decision  # the raw event is kept exactly as received


def test_stats_find_orphans_and_torn_episodes(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.duckdb")
    try:
        events = episode("ep-torn")
        # lose one decision in the middle, and the start of another episode
        decision_at = next(i for i, e in enumerate(events) if e.type == "DecisionMade")
        kept = events[:decision_at] + events[decision_at + 1 :]
        headless = [e for e in episode("ep-headless", seed=5) if e.type != "EpisodeStarted"]
        writer.write(received(kept + headless))
        stats = store_stats(writer)
    finally:
        writer.close()
    assert stats.orphans["episodes_with_missing_events"] == 2  # both are torn
    assert stats.orphans["decisions_without_episode"] > 0
    assert not stats.consistent


def test_readers_open_the_file_when_no_writer_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with pytest.raises(StoreUnavailable, match="no store at"):
        open_store(path)
    writer = StoreWriter(path)
    writer.write(received(episode("ep-r")))
    writer.close()
    reader = open_store(path)
    try:
        assert store_stats(reader).episodes_completed == 1
    finally:
        reader.close()


def test_the_read_path_refuses_writes(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.duckdb")
    try:
        for sql in ("DELETE FROM events", "SELECT 1; DROP TABLE events", "CHECKPOINT"):
            with pytest.raises(ReadOnlyViolation):
                writer.query(sql)
        assert writer.query("SELECT count(*) AS n FROM events").column(0)[0].as_py() == 0
    finally:
        writer.close()


def test_a_locked_store_without_a_live_writer_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    StoreWriter(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); "
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreUnavailable, match="no live writer advertises"):
            open_store(path)
        endpoint_file(path).write_text(
            json.dumps({"url": "http://127.0.0.1:9/x", "pid": 2**22 + 7})
        )
        with pytest.raises(StoreUnavailable, match="is gone"):
            open_store(path)
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_reopening_an_existing_store_can_write(tmp_path: Path) -> None:
    """A restarted sink reopens the file it wrote before (migrations already applied)."""
    path = tmp_path / "s.duckdb"
    first = StoreWriter(path)
    first.write(received(episode("ep-1")))
    first.close()
    again = StoreWriter(path)
    try:
        assert again.write(received(episode("ep-2", seed=2)))["events"] > 0
        assert store_stats(again).episodes_completed == 2
    finally:
        again.close()
