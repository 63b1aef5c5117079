"""The store's single writer.

Exactly one process writes the DuckDB file: the sink. It writes in batches, one
transaction per batch, and every insert is ``INSERT OR IGNORE`` on ``event_id``:
a batch delivered twice (at-least-once delivery after a crash) stores nothing
the second time. The same process answers read-only queries for other
processes (see :mod:`dojo.store.reader`), because DuckDB lets no other process
open a file while a writer holds it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa

from dojo.events import encode
from dojo.store.migrations import migrate
from dojo.store.projection import Received, batch_table, statements_for

CHECKPOINT_THRESHOLD = "256MB"


class ReadOnlyViolation(ValueError):
    """A query sent to the read path that is not a plain SELECT."""


#: DuckDB's errors about the data of a batch (a value its column cannot hold, a NULL in
#: a NOT NULL column), as opposed to the store itself failing (I/O, a full disk)
DATA_REFUSALS: tuple[type[Exception], ...] = (
    duckdb.DataError,  # conversion, out of range, type mismatch
    duckdb.IntegrityError,  # constraints
    duckdb.InvalidInputException,
)

#: an event the store could not take, and DuckDB's reason
Refusal = tuple[Received, str]


def endpoint_file(store_path: Path) -> Path:
    """Where the live writer advertises its query endpoint, beside the store."""
    return store_path.with_name(store_path.name + ".writer.json")


class StoreInUse(RuntimeError):
    """Another process is the store's writer already: a store has exactly one."""


def _live_writer(path: Path) -> dict[str, object] | None:
    """The advert of another live process writing ``path``, if there is one."""
    try:
        advert = json.loads(endpoint_file(path).read_text())
        pid = int(advert["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a killed writer's advert, left behind
    except PermissionError:
        pass
    return dict(advert)


def _connect_when_free(path: Path, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open read-write, waiting out readers that opened the file while no writer ran;
    refuse at once when a live writer holds it (a second sink on the same store)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            writer = _live_writer(path)
            if writer is not None:
                raise StoreInUse(
                    f"{path} already has a writer: pid {writer['pid']}, serving readers at "
                    f"{writer.get('url')}. A store has exactly one writer (the sink): stop that "
                    "one first, or give this one another DOJO_STORE_PATH"
                ) from exc
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class StoreWriter:
    """Owns the read-write connection to one store file."""

    def __init__(self, path: Path | str, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect_when_free(self.path, lock_timeout)
        self._lock = threading.Lock()
        # DuckDB checkpoints whenever 16 MB of WAL pile up, and a checkpoint costs more
        # than the batches before it; the sink checkpoints on close, and a killed one
        # replays its WAL on the next open
        self._conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        migrate(self._conn)

    def write(self, items: list[Received]) -> dict[str, int]:
        """Store one batch atomically. Returns rows inserted per table (duplicates skipped)."""
        if not items:
            return {}
        return self.write_table(batch_table(items), {item.event.type for item in items})

    def write_isolating(self, items: list[Received]) -> tuple[dict[str, int], list[Refusal]]:
        """Like :meth:`write`, but an event whose values the store cannot hold does not
        sink the batch: it is set apart with DuckDB's reason, and the rest is stored.

        A decoded event can still carry what a column refuses (an integer beyond
        INTEGER, a number as a timestamp, a defaulted field left out of the JSON):
        one such message must not crash the sink on every redelivery. A failing
        batch is split in halves until the culprits are alone; one alone is tried
        once more in its canonical encoding (its pydantic re-encoding: every field,
        normal forms) and refused only if that fails too.
        """
        try:
            return self.write(items), []
        except DATA_REFUSALS as exc:
            if len(items) > 1:
                middle = len(items) // 2
                first, refused_first = self.write_isolating(items[:middle])
                second, refused_second = self.write_isolating(items[middle:])
                merged = {t: first.get(t, 0) + second.get(t, 0) for t in {*first, *second}}
                return merged, refused_first + refused_second
            error: Exception = exc
        item = items[0]
        canonical = encode(item.event)
        if canonical != item.raw or item.upcast:
            try:
                return self.write([replace(item, raw=canonical, upcast=False)]), []
            except DATA_REFUSALS as exc:
                error = exc
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return {}, [(item, f"the store refused it: {type(error).__name__}: {reason}"[:2000])]

    def write_table(self, batch: pa.Table, event_types: set[str]) -> dict[str, int]:
        """Store a batch already in the projection's Arrow form (``BATCH_SCHEMA``: raw JSON
        payloads and their positions), holding events of ``event_types`` only.

        For bulk writers that build payloads column-wise (a replay appending a million
        rewards) instead of one decoded event at a time; the same statements, the same
        transaction, the same ``INSERT OR IGNORE``. The payloads must be valid events.
        """
        statements = statements_for(event_types)
        inserted: dict[str, int] = {}
        with self._lock:
            self._conn.register("batch", batch)
            self._conn.execute("BEGIN TRANSACTION")
            try:
                for table, sql in statements:
                    rows = self._conn.execute(sql).fetchall()  # see applied_version
                    inserted[table] = inserted.get(table, 0) + (int(rows[0][0]) if rows else 0)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._conn.unregister("batch")
        return inserted

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        """Run a read-only query on its own cursor; it never blocks writes (MVCC)."""
        cursor = self._conn.cursor()
        try:
            statements = cursor.extract_statements(sql)
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise ReadOnlyViolation("only a single SELECT statement is allowed")
            return cursor.sql(sql, params=params or None).to_arrow_table()
        finally:
            cursor.close()

    def advertise(self, url: str) -> Path:
        """Tell readers in other processes where to send queries while this writer lives."""
        path = endpoint_file(self.path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        tmp.replace(path)
        return path

    def close(self) -> None:
        endpoint_file(self.path).unlink(missing_ok=True)
        with self._lock:
            self._conn.execute("CHECKPOINT")
            self._conn.close()
