"""``dojo up``: one process tree running the whole system on the embedded default.

The supervisor starts the broker (unless an external Kafka is configured),
creates the topics, then runs the table of services in
:mod:`dojo.workers.services`: children start group by group in ``start_order``
(each group ready before the next starts), each a ``python -m dojo`` process
with its own log file in the run folder. When the workers are done (or on
Ctrl-C / ``--minutes``) it stops the services in ``stop_order``, letting each
draining service consume everything first, so nothing in flight is lost; then
the broker stops. Children run in their own sessions — a Ctrl-C reaches only
the supervisor, which orders the shutdown — and die with it if it is killed.

A child that crashes after it has been up a while is restarted, with a backoff,
a few times at most (:mod:`dojo.workers.restarts`); the live display and the
summary count the restarts. A child that fails at once — a worker exiting
non-zero right after its start, a service exiting cleanly on its own — or that
has used up its restarts fails the run, and the error names the child, its exit
code, its log file and the log's last line.

The embedded broker keeps everything in memory. If it dies, it is started again
on the same port with the topics created afresh; every service is restarted
(their consumer offsets, groups and changelogs went with the broker, and they
read the new topics from the start), and the environment workers are told
(SIGUSR1) to publish again every episode not yet in the store, which they hold
for exactly that (:mod:`dojo.workers.retention`); what the store has but the
scoring app or the learner had not finished, the supervisor publishes again
from the store (:mod:`dojo.workers.recovery`). Event ids are deterministic, so
the store keeps each event once, and the learner trains on a trajectory once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import itertools
import json
import math
import operator
import os
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table

from dojo.broker.admin import TopicMismatch, ensure_topics
from dojo.broker.embedded import BrokerStartError, EmbeddedBroker
from dojo.config import VARIABLES, Settings
from dojo.workers.actors import check_policy
from dojo.workers.progress import PipelineProbe, Snapshot
from dojo.workers.readiness import READY_FILE_ENV, ready_file
from dojo.workers.recovery import republish_unfinished
from dojo.workers.restarts import RestartPolicy
from dojo.workers.services import (
    ENV_WORKERS,
    LEARNER,
    SCORING,
    SERVICES,
    SINK,
    RunPlan,
    Service,
)
from streams.adverts import advertise, live_adverts
from streams.scoring import ensure_internal_topics

_PR_SET_PDEATHSIG = 1
#: how often a run without the live display (--json, logs, benches) probes its progress:
#: each probe costs the sink a store query and the broker a fetch per partition, CPU that
#: the workers and the learner share on a small machine
QUIET_PROBE_EVERY_S = 2.0
#: how long one probe may take: a Kafka client asking a broker that died under it (a
#: group's committed offsets) retries forever, and the watch loop that would restart
#: the broker must not wait on it
PROBE_TIMEOUT_S = 10.0


class ChildFailed(RuntimeError):
    pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = dict(os.environ)
    dumped = settings.model_dump(mode="json")
    for variable in VARIABLES.values():
        value: Any = functools.reduce(operator.getitem, variable.path, dumped)
        if value is None:
            env.pop(variable.name, None)
            continue
        secret = variable.value(settings)
        if isinstance(secret, SecretStr):
            file = VARIABLES.get(f"{variable.key}_file")
            if file is not None and file.value(settings) is not None:
                # read from a file: the child reads that file too, and the secret
                # stays out of every environment (/proc/<pid>/environ)
                env.pop(variable.name, None)
                continue
            value = secret.get_secret_value()
        env[variable.name] = value if isinstance(value, str) else json.dumps(value)
    return env


@dataclass
class Child:
    name: str
    service: Service | None
    process: subprocess.Popen[bytes]
    log_path: Path
    stopping: bool = False  # the supervisor asked it to stop
    index: int = 0  # replica number of its service
    started: float = field(default_factory=time.monotonic)
    restart_at: float | None = None  # it died and is due for a restart then

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def role(self) -> str:
        return self.service.role if self.service else "service"

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

    def log_tail(self, lines: int = 3, limit: int = 300) -> str:
        """The log's last lines on one line (an error message may be wrapped over several)."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            tail = " ".join([ln.strip() for ln in text if ln.strip()][-lines:])
            return tail[-limit:]
        return ""

    def failure(self, what: str) -> ChildFailed:
        tail = self.log_tail()
        return ChildFailed(
            f"{self.name} {what}; see {self.log_path}" + (f" (log ends: {tail})" if tail else "")
        )

    def check(self) -> None:
        """Raise :class:`ChildFailed` if this child ended in a way the run cannot accept."""
        code = self.process.poll()
        if code is None:
            return
        if self.role == "worker":
            if code == 0 or (self.stopping and code == -signal.SIGTERM):
                return
            raise self.failure(f"exited with code {code}")
        if not self.stopping:
            raise self.failure(f"stopped unexpectedly (exit code {code})")


def spawn(
    name: str, args: list[str], env: dict[str, str], log_dir: Path
) -> subprocess.Popen[bytes]:
    # the child writes its pid here once it is ready (dojo.workers.readiness)
    env = {**env, READY_FILE_ENV: str(ready_file(log_dir, name))}
    with open(log_dir / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "dojo", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


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
    #: restarts per child (and "broker" for the embedded broker), after crashes
    restarts: dict[str, int] = {}
    #: published again from the store after the embedded broker lost everything
    recovered_from_store: dict[str, int] = {}
    errors: list[str] = []


@dataclass
class Progress:
    started: float = field(default_factory=time.monotonic)
    last: Snapshot | None = None
    phase: str = "starting"
    dashboard: str | None = None  # the web dashboard's URL, once it listens
    #: recent (time, snapshot) pairs, for rates over the last few seconds
    history: deque[tuple[float, Snapshot]] = field(default_factory=lambda: deque(maxlen=40))

    def update(self, snap: Snapshot) -> None:
        self.last = snap
        self.history.append((time.monotonic(), snap))

    def rates(self) -> tuple[float, float]:
        """(episodes/s, events stored/s) over the recent window."""
        if len(self.history) < 2:
            return 0.0, 0.0
        (t0, first), (t1, last) = self.history[0], self.history[-1]
        span = max(t1 - t0, 1e-9)
        return (
            (last.episodes_completed - first.episodes_completed) / span,
            (last.events_stored - first.events_stored) / span,
        )

    def render(
        self, children: list[Child], target: int | None, restarts: Counter[str] | None = None
    ) -> Table:
        snap = self.last or Snapshot(0, 0, 0, 0)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        episodes_rate, events_rate = self.rates()
        table = Table(title=f"dojo up — {self.phase}", show_header=False, min_width=52)
        table.add_row("elapsed", f"{elapsed:6.1f} s")
        table.add_row("episodes", f"{snap.episodes_completed}" + (f" / {target}" if target else ""))
        table.add_row(
            "episodes/s", f"{episodes_rate:6.2f} now, {snap.episodes_completed / elapsed:6.2f} mean"
        )
        table.add_row("events published", f"{snap.published}")
        table.add_row("events stored", f"{snap.events_stored}")
        table.add_row(
            "events/s (stored)", f"{events_rate:8.1f} now, {snap.events_stored / elapsed:8.1f} mean"
        )
        for group, lag in sorted(snap.lags.items()):
            table.add_row(f"consumer lag {group}", f"{lag}")
        table.add_row(
            "processes", " ".join(f"{c.name}{'' if c.alive() else '✗'}" for c in children)
        )
        if restarts:
            table.add_row(
                "restarts", ", ".join(f"{name} ×{n}" for name, n in sorted(restarts.items()))
            )
        if self.dashboard:
            table.add_row("dashboard", self.dashboard)
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
        services: list[Service] | None = None,
    ) -> None:
        self.settings = settings
        self.plan = RunPlan(settings, episodes, minutes)
        self.episodes = episodes
        self.minutes = minutes
        self.live = live
        self.console = console or Console(stderr=True)
        self.drain_timeout = drain_timeout
        self.services = [s for s in (services or SERVICES) if s.enabled(settings)]
        self.children: list[Child] = []
        self.broker: EmbeddedBroker | None = None
        self._broker_advert: Path | None = None
        self._stop = asyncio.Event()
        self._interrupts = 0
        self._deadline_hit = False
        self.errors: list[str] = []
        self.policy = RestartPolicy.from_settings(settings)
        self.restarts: Counter[str] = Counter()
        #: what the store gave back after embedded-broker restarts (episodes, events, trajectories)
        self.recovered: dict[str, int] = {}
        self._started_at = datetime.now(UTC)
        # what a restart needs: set once the run has started
        self._live = settings
        self._plan = self.plan
        self._env: dict[str, str] = {}
        self._run_dir = Path()
        self._probe: PipelineProbe | None = None

    # --- lifecycle -----------------------------------------------------------------

    def request_stop(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:  # a second Ctrl-C: stop now, whatever is in flight
            for child in self.children:
                child.stopping = True
                child.signal(signal.SIGKILL)
        self._stop.set()

    async def run(self) -> RunSummary:
        if any(s is ENV_WORKERS for s in self.services):
            check_policy(self.settings.policy.name, self.settings)  # UnknownPolicy: nothing started
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S-%f")
        run_dir = (self.settings.data_dir / "runs" / stamp).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        self._started_at = datetime.now(UTC)
        settings = self.settings.replace(store_path=self.settings.store.path.resolve())
        progress = Progress()
        self._run_dir = run_dir
        try:
            if settings.embedded:
                self.broker = EmbeddedBroker.from_settings(settings, run_dir / "broker.log")
                await self.broker.start_async()
                settings = settings.replace(
                    kafka_bootstrap=self.broker.bootstrap,
                    env_retain_until=self._retain_until(settings),
                )
                # so that a `dojo monitor` started beside this run finds the broker
                self._broker_advert = advertise(
                    settings, "broker", int(self.broker.bootstrap.rsplit(":", 1)[1]), "kafka"
                )
            await ensure_topics(settings)
            plan = RunPlan(settings, self.episodes, self.minutes)
            self._live, self._plan, self._env = settings, plan, child_environment(settings)
            await self._start_services(plan, self._env, run_dir)
            progress.dashboard = next((a.url for a in live_adverts(settings, "dashboard")), None)
            self._probe = await self._new_probe()
            progress.phase = "running"
            with self._display(progress) as refresh:
                await self._watch(progress, refresh)
                progress.phase = "draining"
                await self._shutdown(progress, refresh)
                progress.phase = "stopped"
                refresh()
            self._check_target(progress)
        except (ChildFailed, BrokerStartError, TopicMismatch) as exc:
            self.errors.append(str(exc))
        finally:
            if self._probe is not None:
                with contextlib.suppress(Exception):
                    progress.update(await asyncio.wait_for(self._probe.snapshot(), PROBE_TIMEOUT_S))
                with contextlib.suppress(Exception):
                    await self._probe.stop()
            await asyncio.to_thread(self._stop_all)
        return self._summary(settings, progress, run_dir)

    def _drains(self, settings: Settings) -> dict[str, tuple[str, list[str]]]:
        """{service name: (group id, topic names)} for the services that drain."""
        return {
            s.name: (
                s.drains.group_id(settings),
                [f"{settings.topic_prefix}.{t.value}" for t in s.drains.topics]
                + list(s.drains.internal_topics(settings)),
            )
            for s in self.services
            if s.drains is not None
        }

    def _retain_until(self, settings: Settings) -> str:
        """How far env workers follow their episodes on the embedded broker (which loses
        everything if it dies): until stored; what is stored, the store gives back."""
        return "stored" if settings.env.retain_until == "off" else settings.env.retain_until

    async def _new_probe(self) -> PipelineProbe:
        settings = self._live
        probe = PipelineProbe(
            settings,
            settings.store.path,
            self._drains(settings),
            extra_topics={
                name: n
                for s in self.services
                if s.drains is not None
                for name, n in s.drains.internal_topics(settings).items()
            },
        )
        await probe.start()
        return probe

    async def _snapshot(self, progress: Progress) -> Snapshot:
        """The pipeline's progress; the last one known while the broker is away."""
        assert self._probe is not None
        try:
            snap = await asyncio.wait_for(self._probe.snapshot(), PROBE_TIMEOUT_S)
        except Exception:  # the broker died under the probe: _keep_broker brings it back
            return progress.last or Snapshot(0, 0, 0, 0)
        progress.update(snap)
        return snap

    async def _start_services(self, plan: RunPlan, env: dict[str, str], run_dir: Path) -> None:
        by_order = sorted(self.services, key=lambda s: s.start_order)
        for _, group in itertools.groupby(by_order, key=lambda s: s.start_order):
            started: list[Child] = []
            for service in group:
                for index, name in enumerate(service.child_names(plan)):
                    process = spawn(name, service.args(plan, index), env, run_dir)
                    child = Child(name, service, process, run_dir / f"{name}.log", index=index)
                    self.children.append(child)
                    started.append(child)
            await asyncio.gather(*(self._wait_ready(c, plan.settings) for c in started))

    async def _wait_ready(self, child: Child, settings: Settings) -> None:
        service = child.service
        if service is None or service.ready is None:
            return
        deadline = time.monotonic() + service.ready_timeout_s
        while not service.ready(child, settings):
            if not child.alive():
                raise child.failure(f"exited with code {child.process.returncode} while starting")
            if self._stop.is_set():
                raise ChildFailed(f"stopped before {child.name} was ready")
            if time.monotonic() > deadline:
                raise child.failure(f"was not ready within {service.ready_timeout_s:.0f}s")
            await asyncio.sleep(0.1)

    def _workers(self) -> list[Child]:
        return [c for c in self.children if c.role == "worker"]

    def _check_children(self) -> None:
        """Restart the children that crashed (policy permitting); fail on the others."""
        now = time.monotonic()
        for position, child in enumerate(self.children):
            if child.restart_at is not None:
                if now >= child.restart_at and not child.stopping:
                    self._respawn(position)
                continue
            try:
                child.check()
            except ChildFailed:
                code = child.process.returncode
                if (
                    child.stopping
                    or (child.role == "worker" and self._stop.is_set())
                    or not self.policy.allows(
                        uptime_s=now - child.started,
                        restarts=self.restarts[child.name],
                        exit_code=code,
                        service=child.role == "service",
                    )
                ):
                    raise
                child.restart_at = now + self.policy.delay(self.restarts[child.name])
                self.restarts[child.name] += 1
                with contextlib.suppress(OSError), open(child.log_path, "a") as log:
                    log.write(
                        f"\n--- dojo up: exited with code {code}; restart "
                        f"{self.restarts[child.name]} of {self.policy.limit} ---\n"
                    )

    def _respawn(self, position: int) -> Child:
        """Start the child at ``position`` again, as its service starts it, in its place."""
        old = self.children[position]
        assert old.service is not None
        process = spawn(old.name, old.service.args(self._plan, old.index), self._env, self._run_dir)
        child = Child(old.name, old.service, process, old.log_path, index=old.index)
        self.children[position] = child
        return child

    async def _keep_broker(self) -> None:
        """If the embedded broker died: start it again, topics, services and all."""
        if self.broker is None or self.broker.running() or self._interrupts > 1:
            return
        old = self.broker
        self.restarts["broker"] += 1
        if self.restarts["broker"] > self.policy.limit:
            raise ChildFailed(f"the embedded broker died {self.restarts['broker']} times")
        # every service held state of the lost broker (offsets, group, changelogs): it is
        # started afresh, reading the new topics from their beginning; the old one must not
        # reach the new broker (a topic it touched first would get the default partitions)
        services = [(at, c) for at, c in enumerate(self.children) if c.role == "service"]
        for _, child in services:
            child.signal(signal.SIGKILL)
        if self._probe is not None:  # its consumers too
            await self._probe.stop()
        await asyncio.gather(*(asyncio.to_thread(c.wait, 10.0) for _, c in services))
        # the workers wait, frozen, until the topics exist again (same reason)
        workers = [w for w in self._workers() if w.alive()]
        for worker in workers:
            worker.signal(signal.SIGSTOP)
        try:
            self.broker = EmbeddedBroker(old.host, old.port, old.binary, old.log_path)
            for attempt in range(10):  # the port may linger a moment after the old one died
                try:
                    await self.broker.start_async()
                    break
                except BrokerStartError:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(0.5)
            await ensure_topics(self._live)
            if any(s is SCORING for s in self.services):
                # before any client of the old generation can touch them with a metadata
                # request (which creates a topic with the broker's default partitions)
                await ensure_internal_topics(self._live)
        finally:
            for worker in workers:
                worker.signal(signal.SIGCONT)
        order = sorted({c.service.start_order for _, c in services if c.service is not None})
        for start_order in order:
            group = [
                self._respawn(at)
                for at, c in services
                if c.service is not None and c.service.start_order == start_order
            ]
            await asyncio.gather(*(self._wait_ready(c, self._live) for c in group))
        self._probe = await self._new_probe()
        # what the workers hold and the broker lost, they publish again; what was stored
        # and not yet scored or trained on, the store gives back
        for worker in self._workers():
            worker.signal(signal.SIGUSR1)
        try:
            recovered = await republish_unfinished(
                self._live,
                self._started_at,
                scoring=any(s is SCORING for s in self.services),
                learner=any(s is LEARNER for s in self.services),
            )
        except Exception as exc:  # the run goes on; its summary says what was not recovered
            self.errors.append(
                f"could not republish from the store after the broker restart: {exc}"
            )
            return
        for key, value in recovered.model_dump().items():
            self.recovered[key] = self.recovered.get(key, 0) + value

    def settled(self) -> bool:
        """Whether every part runs as it should now: the embedded broker up, no child due
        for a restart, every service alive and ready (not mid-restart)."""
        if self.broker is not None and not self.broker.running():
            return False
        for child in self.children:
            if child.stopping or child.role != "service":
                continue
            if child.restart_at is not None or not child.alive():
                return False
            service = child.service
            ready = service.ready if service is not None else None
            if ready is not None and not ready(child, self._live):
                return False
        return True

    def _working(self) -> bool:
        """Until every worker has exited for good (or, without workers, a stop request)."""
        workers = self._workers()
        if not workers:
            return not self._stop.is_set()
        return any(w.alive() or (w.restart_at is not None and not w.stopping) for w in workers)

    async def _watch(self, progress: Progress, refresh: Callable[[], None]) -> None:
        """Until every worker has exited (or, without workers, until a stop request)."""
        deadline = None if self.minutes is None else progress.started + self.minutes * 60
        stopping = False
        probed = -math.inf
        while True:
            # judged first: a worker that died between two polls is due for a restart (or
            # fails the run, a bad policy name, say); it has not finished
            self._check_children()
            if not self._working():
                break
            if not stopping and deadline is not None and time.monotonic() > deadline:
                self._deadline_hit = True
                self._stop.set()
            if not stopping and self._stop.is_set():
                stopping = True  # workers finish the episode in hand, then exit
                for worker in self._workers():
                    worker.stopping = True
                    worker.signal(signal.SIGTERM)
            await self._keep_broker()
            if self.live or time.monotonic() - probed >= QUIET_PROBE_EVERY_S:
                await self._snapshot(progress)
                probed = time.monotonic()
            refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    async def _shutdown(self, progress: Progress, refresh: Callable[[], None]) -> None:
        """Stop the services in stop order, each draining its input first."""
        services = sorted(
            (s for s in self.services if s.role == "service"), key=lambda s: s.stop_order
        )
        for service in services:
            children = [c for c in self.children if c.service is service]
            if service.drains is not None and self._interrupts < 2:
                await self._drain(service, progress, refresh)
            for child in children:
                child.stopping = True
                child.signal(signal.SIGTERM)
            codes = await asyncio.gather(
                *(asyncio.to_thread(c.wait, service.stop_timeout_s) for c in children)
            )
            for child, code in zip(children, codes, strict=True):
                if code not in (0, -signal.SIGTERM) and self._interrupts < 2:
                    self.errors.append(str(child.failure(f"exited with code {code} on stop")))

    async def _drain(
        self, service: Service, progress: Progress, refresh: Callable[[], None]
    ) -> None:
        """Wait until ``service`` has committed everything published to its topics."""
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            await self._keep_broker()
            self._check_children()
            snap = await self._snapshot(progress)
            refresh()
            if snap.lags.get(service.name, 0) == 0:
                return
            if self._interrupts > 1:
                return
            await asyncio.sleep(0.25)
        self.errors.append(f"{service.name} did not drain within {self.drain_timeout:.0f}s")

    def _check_target(self, progress: Progress) -> None:
        """With --episodes and no early stop, every episode must have reached the store."""
        if self.episodes is None or self._stop.is_set() or progress.last is None:
            return
        stored = progress.last.episodes_completed
        if stored < self.episodes:
            self.errors.append(f"only {stored} of {self.episodes} episodes reached the store")

    def _stop_all(self) -> None:
        """Whatever still runs (after a failure, say): SIGTERM in reverse start order."""
        for child in reversed(self.children):
            child.stopping = True
            child.signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.wait(30.0)
        if self.broker is not None:
            self.broker.stop()
        if self._broker_advert is not None:
            self._broker_advert.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _display(self, progress: Progress) -> Iterator[Callable[[], None]]:
        if not self.live:
            yield lambda: None
            return
        target = self.episodes
        with Live(
            progress.render(self.children, target, self.restarts),
            console=self.console,
            refresh_per_second=4,
        ) as live:
            yield lambda: live.update(progress.render(self.children, target, self.restarts))

    def _summary(self, settings: Settings, progress: Progress, run_dir: Path) -> RunSummary:
        snap = progress.last or Snapshot(0, 0, 0, 0)
        elapsed = time.monotonic() - progress.started
        return RunSummary(
            status="error" if self.errors else "ok",
            store=str(settings.store.path),
            bootstrap=settings.kafka.bootstrap or "",
            embedded_broker=self.broker is not None,
            elapsed_s=round(elapsed, 2),
            episodes=snap.episodes_completed,
            events_published=snap.published,
            events_stored=snap.events_stored,
            episodes_per_s=round(snap.episodes_completed / elapsed, 3),
            events_per_s=round(snap.events_stored / elapsed, 1),
            consumer_lag=snap.lags.get(SINK.name, snap.lag),
            logs=str(run_dir),
            restarts=dict(self.restarts),
            recovered_from_store=self.recovered,
            errors=self.errors,
        )
