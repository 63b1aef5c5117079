"""``dojo up``: one process tree running the whole system on the embedded default.

The supervisor starts, in order, the broker (unless an external Kafka is
configured), the topics, the sink, and K environment workers, each a child
process with its own log file. It stops them in the reverse order so nothing
in flight is lost: environment workers finish their episode, the sink drains
every topic to the store (its consumer lag reaches zero), then the sink and the
broker stop. Children run in their own sessions — a Ctrl-C reaches only the
supervisor, which orders the shutdown — and die with it if it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.table import Table

from dojo.broker.admin import ensure_topics
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.store.writer import endpoint_file
from dojo.workers.progress import PipelineProbe, Snapshot

SINK_GROUP_SUFFIX = "-sink"
_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            env.pop(f"DOJO_{name.upper()}", None)
            continue
        secret = getattr(settings, name)
        if hasattr(secret, "get_secret_value"):
            value = secret.get_secret_value()
        env[f"DOJO_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dojo", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Child(name, process, log_path)


class RunSummary(BaseModel):
    status: str
    store: str
    bootstrap: str
    embedded_broker: bool
    elapsed_s: float
    episodes: int
    events_published: int
    events_stored: int
    episodes_per_s: float
    events_per_s: float
    consumer_lag: int
    logs: str
    errors: list[str] = []


@dataclass
class Progress:
    started: float = field(default_factory=time.monotonic)
    last: Snapshot | None = None
    phase: str = "starting"

    def render(self, children: list[Child], target: int | None) -> Table:
        snap = self.last or Snapshot(0, 0, 0, 0)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        table = Table(title=f"dojo up — {self.phase}", show_header=False, min_width=48)
        table.add_row("elapsed", f"{elapsed:6.1f} s")
        episodes = f"{snap.episodes_completed}" + (f" / {target}" if target else "")
        table.add_row("episodes", episodes)
        table.add_row("episodes/s", f"{snap.episodes_completed / elapsed:6.2f}")
        table.add_row("events published", f"{snap.published}")
        table.add_row("events stored", f"{snap.events_stored}")
        table.add_row("events/s (stored)", f"{snap.events_stored / elapsed:8.1f}")
        table.add_row("sink consumer lag", f"{snap.lag}")
        table.add_row(
            "processes",
            " ".join(f"{c.name}{'' if c.alive() else '✗'}" for c in children),
        )
        return table


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        *,
        episodes: int | None = None,
        minutes: float | None = None,
        live: bool = True,
        console: Console | None = None,
        drain_timeout: float = 120.0,
    ) -> None:
        self.settings = settings
        self.episodes = episodes
        self.minutes = minutes
        self.live = live
        self.console = console or Console(stderr=True)
        self.drain_timeout = drain_timeout
        self.children: list[Child] = []
        self.broker: EmbeddedBroker | None = None
        self._stop = asyncio.Event()
        self._interrupts = 0
        self.errors: list[str] = []

    # --- lifecycle -----------------------------------------------------------------

    def request_stop(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:  # a second Ctrl-C: stop now, whatever is in flight
            for child in self.children:
                child.signal(signal.SIGKILL)
        self._stop.set()

    async def run(self) -> RunSummary:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        run_dir = self.settings.data_dir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S-%f")
        run_dir.mkdir(parents=True, exist_ok=True)
        settings = self.settings.model_copy(
            update={"store_path": self.settings.store_path.resolve()}
        )
        progress = Progress()
        probe: PipelineProbe | None = None
        try:
            if settings.embedded:
                self.broker = EmbeddedBroker.from_settings(settings, run_dir / "broker.log")
                await self.broker.start_async()
                settings = settings.model_copy(update={"kafka_bootstrap": self.broker.bootstrap})
            await ensure_topics(settings)
            env = child_environment(settings)
            sink = spawn("sink", ["streams", "worker", "--app", "sink"], env, run_dir)
            self.children.append(sink)
            await self._wait_for_sink(sink, settings.store_path)
            workers = self._start_env_workers(env, run_dir)
            probe = PipelineProbe(
                settings, f"{settings.topic_prefix}{SINK_GROUP_SUFFIX}", settings.store_path
            )
            await probe.start()
            progress.phase = "running"
            with self._display(progress) as refresh:
                await self._watch_workers(workers, probe, progress, refresh)
                progress.phase = "draining"
                await self._drain(probe, progress, refresh)
                progress.phase = "stopped"
                refresh()
        except ChildFailed as exc:
            self.errors.append(str(exc))
        finally:
            if probe is not None:
                with contextlib.suppress(Exception):
                    progress.last = await probe.snapshot()
                await probe.stop()
            await asyncio.to_thread(self._stop_all)
        return self._summary(settings, progress, run_dir)

    def _start_env_workers(self, env: dict[str, str], run_dir: Path) -> list[Child]:
        count = self.settings.env_workers
        workers = []
        for index in range(count):
            args = ["env-worker", "--index", str(index)]
            if self.episodes is not None:
                share = self.episodes // count + (1 if index < self.episodes % count else 0)
                if share == 0:
                    continue
                args += ["--episodes", str(share)]
            child = spawn(f"env-worker-{index}", args, env, run_dir)
            workers.append(child)
            self.children.append(child)
        return workers

    async def _wait_for_sink(self, sink: Child, store_path: Path, timeout: float = 120.0) -> None:
        """The sink is up once it advertises its query endpoint for this store."""
        advert = endpoint_file(store_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sink.alive():
                raise ChildFailed(
                    f"the sink exited with {sink.process.returncode}; see {sink.log_path}"
                )
            if advert.exists():
                with contextlib.suppress(ValueError, OSError):
                    if json.loads(advert.read_text()).get("pid") == sink.process.pid:
                        return
            if self._stop.is_set():
                raise ChildFailed("stopped before the sink was ready")
            await asyncio.sleep(0.1)
        raise ChildFailed(f"the sink did not start within {timeout:.0f}s; see {sink.log_path}")

    async def _watch_workers(
        self,
        workers: list[Child],
        probe: PipelineProbe,
        progress: Progress,
        refresh: Callable[[], None],
    ) -> None:
        deadline = None if self.minutes is None else progress.started + self.minutes * 60
        stopping = False
        while any(w.alive() for w in workers):
            if not stopping and (
                self._stop.is_set() or (deadline is not None and time.monotonic() > deadline)
            ):
                stopping = True  # workers finish the episode in hand, then exit
                for worker in workers:
                    worker.signal(signal.SIGTERM)
            for child in self.children:
                code = child.process.poll()
                if code is None:
                    continue
                if child not in workers:
                    raise ChildFailed(f"{child.name} stopped ({code}); see {child.log_path}")
                if code != 0 and not (stopping and code == -signal.SIGTERM):
                    raise ChildFailed(f"{child.name} exited with {code}; see {child.log_path}")
            progress.last = await probe.snapshot()
            refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    async def _drain(
        self, probe: PipelineProbe, progress: Progress, refresh: Callable[[], None]
    ) -> None:
        """Wait until the sink has committed everything that was published."""
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            snap = await probe.snapshot()
            progress.last = snap
            refresh()
            if snap.lag == 0:
                return
            if self._interrupts > 1:
                break
            await asyncio.sleep(0.25)
        self.errors.append(f"the sink did not drain within {self.drain_timeout:.0f}s")

    def _stop_all(self) -> None:
        for child in reversed(self.children):
            child.signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.wait(30.0)
        if self.broker is not None:
            self.broker.stop()

    @contextlib.contextmanager
    def _display(self, progress: Progress) -> Any:
        if not self.live:
            yield lambda: None
            return
        target = self.episodes
        with Live(
            progress.render(self.children, target), console=self.console, refresh_per_second=4
        ) as live:
            yield lambda: live.update(progress.render(self.children, target))

    def _summary(self, settings: Settings, progress: Progress, run_dir: Path) -> RunSummary:
        snap = progress.last or Snapshot(0, 0, 0, 0)
        elapsed = time.monotonic() - progress.started
        return RunSummary(
            status="error" if self.errors else "ok",
            store=str(settings.store_path),
            bootstrap=settings.kafka_bootstrap or "",
            embedded_broker=self.broker is not None,
            elapsed_s=round(elapsed, 2),
            episodes=snap.episodes_completed,
            events_published=snap.published,
            events_stored=snap.events_stored,
            episodes_per_s=round(snap.episodes_completed / elapsed, 3),
            events_per_s=round(snap.events_stored / elapsed, 1),
            consumer_lag=snap.lag,
            logs=str(run_dir),
            errors=self.errors,
        )
