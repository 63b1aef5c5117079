"""The child processes of ``dojo up``, declared in one table.

Each :class:`Service` says how to start one kind of child (its ``python -m dojo``
arguments), how many to start, how to tell it is ready, when to start it and
how to stop it. The supervisor (:mod:`dojo.workers.supervisor`) only runs this
table, so a new part of the system joins ``dojo up`` by adding an entry to
:data:`SERVICES`, e.g. a second Faust app::

    stream_app("scoring", consumes=(Topic.EPISODES,), start_order=20, stop_order=10)

Two roles:

* ``worker`` — does a finite share of the run (``--episodes``) and exits 0 when
  done. The run ends when every worker has exited; a stop request (Ctrl-C,
  ``--minutes``) sends them SIGTERM and they finish the episode in hand.
* ``service`` — runs until the supervisor stops it. Exiting earlier, whatever
  the code, fails the run.

Shutdown, once the workers are done: services stop in ascending ``stop_order``.
A service with ``drains`` is first given time to consume everything published
to those topics (its consumer group's lag reaches zero), so nothing upstream
of it is left unprocessed; then it gets SIGTERM. Put producers of events
(a learner publishing policy versions) before the stream apps that consume
them, and the sink — which stores everything — last.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from dojo.config import Settings
from dojo.store.writer import endpoint_file
from dojo.topics import Topic
from dojo.workers.readiness import announced, ready_file


@dataclass(frozen=True)
class RunPlan:
    """What this ``dojo up`` run was asked to do; services derive their arguments from it."""

    settings: Settings
    episodes: int | None = None
    minutes: float | None = None


class ChildView(Protocol):
    """What a readiness check may look at."""

    @property
    def pid(self) -> int: ...

    @property
    def log_path(self) -> Path: ...


#: True once the child is ready; polled until then (the child being alive is checked apart).
Readiness = Callable[[ChildView, Settings], bool]


def store_writer_ready(child: ChildView, settings: Settings) -> bool:
    """The sink is ready once it advertises its store query endpoint, under its own pid."""
    advert = endpoint_file(settings.store.path)
    with contextlib.suppress(ValueError, OSError):
        return bool(json.loads(advert.read_text()).get("pid") == child.pid)
    return False


def announced_ready(child: ChildView, settings: Settings) -> bool:
    """Ready once the child wrote its pid into its ready file (:mod:`dojo.workers.readiness`)."""
    return announced(ready_file(child.log_path.parent, child.log_path.stem), child.pid)


@dataclass(frozen=True)
class Drain:
    """A consumer group whose lag on ``topics`` must reach zero before its service stops."""

    group: str  # without the topic prefix: the group id is ``<prefix>-<group>``
    topics: tuple[Topic, ...]
    #: the app's own topics it also consumes, ``<group id>-<name>`` -> partitions
    #: (a Faust app's internal topics, e.g. the scoring app's drift pairs)
    internal: tuple[tuple[str, int], ...] = ()

    def group_id(self, settings: Settings) -> str:
        return f"{settings.topic_prefix}-{self.group}"

    def internal_topics(self, settings: Settings) -> dict[str, int]:
        return {f"{self.group_id(settings)}-{name}": n for name, n in self.internal}


@dataclass(frozen=True)
class Service:
    name: str
    #: arguments after ``python -m dojo`` for replica ``index``
    args: Callable[[RunPlan, int], list[str]]
    role: Literal["worker", "service"] = "service"
    #: how many replicas; ``None``: exactly one, named ``name`` (replicas are ``name-<i>``)
    replicas: Callable[[RunPlan], int] | None = None
    ready: Readiness | None = None
    ready_timeout_s: float = 180.0
    #: services start in ascending order; each group is ready before the next one starts
    start_order: int = 0
    #: services stop in ascending order, after every worker has exited
    stop_order: int = 0
    drains: Drain | None = None
    #: how long it may take to exit after SIGTERM before it is killed (a failure)
    stop_timeout_s: float = 30.0
    #: whether this run has the service at all
    enabled: Callable[[Settings], bool] = lambda settings: True

    def child_names(self, plan: RunPlan) -> list[str]:
        if self.replicas is None:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.replicas(plan))]


def stream_app(
    app: str,
    *,
    consumes: tuple[Topic, ...],
    start_order: int,
    stop_order: int,
    ready: Readiness | None = None,
    internal: tuple[tuple[str, int], ...] = (),
) -> Service:
    """A Faust app of :data:`streams.worker.APPS` as a service (its group is ``<prefix>-<app>``)."""
    return Service(
        name=app,
        args=lambda plan, index: ["streams", "worker", "--app", app],
        ready=ready,
        start_order=start_order,
        stop_order=stop_order,
        drains=Drain(app, consumes, internal),
    )


def _env_worker_count(plan: RunPlan) -> int:
    workers = plan.settings.env.workers
    return workers if plan.episodes is None else min(workers, plan.episodes)


def _env_worker_args(plan: RunPlan, index: int) -> list[str]:
    args = ["env-worker", "--index", str(index)]
    if plan.episodes is not None:
        count = _env_worker_count(plan)
        share = plan.episodes // count + (1 if index < plan.episodes % count else 0)
        args += ["--episodes", str(share)]
    return args


SINK = stream_app(
    "sink",
    consumes=tuple(Topic),
    start_order=0,
    # the store is the last stop: it must hold what every other service published
    stop_order=100,
    ready=store_writer_ready,
)

SCORING = stream_app(
    "scoring",
    consumes=(Topic.EPISODES, Topic.VERDICTS, Topic.REWARDS),
    # judging feeds the drift agent through the app's own topic (streams.drift.PAIRS_TOPIC)
    internal=(("drift-pairs", 1),),
    start_order=10,
    # before the sink, which must store what scoring publishes while it drains
    stop_order=10,
    # it announces itself once its internal topics exist and its app has started
    ready=announced_ready,
)

ENV_WORKERS = Service(
    name="env-worker",
    args=_env_worker_args,
    role="worker",
    replicas=_env_worker_count,
    # after the stream apps: every event they publish has a consumer already
    start_order=50,
)

EVALUATOR = Service(
    name="evaluator",
    args=lambda plan, index: ["evaluator"],
    # it announces itself once it has read what the evals topic already holds
    ready=announced_ready,
    # before the workers, so it counts every episode from the first
    start_order=30,
    # before the sink, which must store the reports it publishes while it finishes
    stop_order=50,
    # on SIGTERM it finishes the evaluations already due: a quick one plays whole
    # episodes with the model, which on a busy two-core machine outlasted 30 s, and a
    # full one (50 tasks, due at every 500th episode) outlasted 120 s at the end of a
    # 15-minute run; a second Ctrl-C still stops it at once
    stop_timeout_s=900.0,
    enabled=lambda s: s.eval.quick_every > 0 or s.eval.full_every > 0 or s.curriculum.auto,
)

DASHBOARD = Service(
    name="dashboard",
    args=lambda plan, index: ["dashboard"],
    # it announces its URL once it listens (a free port unless DOJO_DASHBOARD_PORT is set)
    ready=announced_ready,
    # once the sink is up (it reads the store through it), before the workers
    start_order=5,
    # it only reads; it stays up while the others drain, so the drain can be watched
    stop_order=95,
    enabled=lambda s: s.dashboard.enabled,
)


def _learner_enabled(settings: Settings) -> bool:
    from dojo.env.reference import REFERENCE_POLICIES

    # a scripted policy has nothing to train
    return settings.learner.enabled and settings.policy.name not in REFERENCE_POLICIES


LEARNER = Service(
    name="learner",
    args=lambda plan, index: ["learner"],
    # it announces itself once its model is loaded (or resumed) and its partitions assigned
    ready=announced_ready,
    # after the scoring app that feeds it, before the workers
    start_order=40,
    # no drain: it trains on what arrives while it runs; what it has not consumed stays on
    # the topic for the next run. On SIGTERM it checkpoints and publishes its last
    # updates, before the sink (which stores those events) stops. The update in hand
    # finishes first: a real model's update over a batch of conversations takes minutes
    # on a CPU (smollm2-135m-instruct's second update of a `dojo up --episodes 8` was
    # killed at 120 s, and the run ended in error); a second Ctrl-C still stops it at once
    stop_order=20,
    stop_timeout_s=900.0,
    enabled=_learner_enabled,
)

#: Every child of ``dojo up``. Add an entry here to run a new part of the system.
SERVICES: list[Service] = [SINK, SCORING, ENV_WORKERS, EVALUATOR, DASHBOARD, LEARNER]
