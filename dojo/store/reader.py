"""Reading the store from any process, whether or not the sink is running.

DuckDB lets no other process open a file that a writer holds, not even
read-only. So a reader first tries the file directly (the writer is not
running); if the file is locked it sends its query to the live writer's
endpoint, advertised in ``<store>.writer.json``, and gets Arrow back. On another
host (a cluster) a reader is given the endpoint's URL instead (``DOJO_STORE_URL``). Queries
there run on their own cursor under MVCC: readers never block the writer, and
the writer never blocks them.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from pathlib import Path
from typing import Protocol

import duckdb
import httpx
import pyarrow as pa

from dojo.store.writer import endpoint_file

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class StoreUnavailable(RuntimeError):
    """The store cannot be read: no file, or locked with no live writer to ask."""


class StoreReader(Protocol):
    def query(self, sql: str, params: list[object] | None = None) -> pa.Table: ...

    def close(self) -> None: ...


class FileReader:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        return self._conn.sql(sql, params=params or None).to_arrow_table()

    def close(self) -> None:
        self._conn.close()


class WriterReader:
    """Queries answered by the live writer process over loopback HTTP."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout, verify=_tls_context())

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        try:
            response = self._client.post(self.url, json={"sql": sql, "params": params or []})
        except httpx.TransportError as exc:  # the sink restarting, or not up yet
            raise StoreUnavailable(f"the store writer at {self.url} did not answer: {exc}") from exc
        if response.status_code != 200:
            raise StoreUnavailable(f"the store writer refused the query: {response.text[:500]}")
        with pa.ipc.open_stream(response.content) as stream:
            return stream.read_all()

    def close(self) -> None:
        self._client.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying context for every reader of the process. Building one loads the CA
    bundle, ~20 ms of CPU, and readers are opened often: ``dojo up``'s progress probe
    opens one twice a second, on the cores the workers and the learner need."""
    return httpx.create_ssl_context()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_store(path: Path | str, url: str | None = None) -> StoreReader:
    """A reader for the store at ``path``: the file itself, or its live writer.

    With ``url`` (``DOJO_STORE_URL``: a reader on another host than the sink, which
    has neither the file nor its advert) the writer's query endpoint is asked directly.
    """
    if url:
        return WriterReader(url)
    path = Path(path)
    if not path.exists():
        raise StoreUnavailable(f"no store at {path}")
    if not path.is_file():
        raise StoreUnavailable(f"{path} is not a store file but a directory")
    try:
        return FileReader(duckdb.connect(str(path), read_only=True))
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        advert = endpoint_file(path)
        if not advert.exists():
            raise StoreUnavailable(
                f"{path} is locked by another process and no live writer advertises "
                f"a query endpoint ({advert} is absent): {exc}"
            ) from None
        info = json.loads(advert.read_text())
        if not _pid_alive(int(info.get("pid", -1))):
            raise StoreUnavailable(
                f"{path} is locked, and the writer named in {advert} (pid {info.get('pid')}) "
                "is gone"
            ) from None
        return WriterReader(str(info["url"]))
