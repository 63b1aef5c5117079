"""The ``dojo`` command: a thin layer over library functions.

Every option that is also a setting overrides its ``DOJO_*`` variable for this
run only.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from dojo.config import Settings

app = typer.Typer(
    help="Dojo: trains a local LLM in senior-engineer behaviour inside a simulated agile team.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
store_app = typer.Typer(help="Inspect the DuckDB episode store.", no_args_is_help=True)
streams_app = typer.Typer(help="Faust stream processors.", no_args_is_help=True)
schemas_app = typer.Typer(help="Event JSON Schemas in schemas/.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(streams_app, name="streams")
app.add_typer(schemas_app, name="schemas")

err = Console(stderr=True)
out = Console()

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="DuckDB store file [env: DOJO_STORE_PATH]")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the CLI's explicit options on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors(include_url=False):
            where = ".".join(str(p) for p in problem["loc"])
            err.print(f"[red]configuration error[/red] DOJO_{where.upper()}: {problem['msg']}")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def up(
    episodes: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many episodes.")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this many minutes.")
    ] = None,
    store: StoreOption = None,
    env_workers: Annotated[
        int | None, typer.Option(min=1, help="Environment worker processes [env: DOJO_ENV_WORKERS]")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Policy preset or reference policy [env: DOJO_POLICY]")
    ] = None,
    stage: Annotated[
        int | None, typer.Option(min=1, max=4, help="Curriculum stage [env: DOJO_STAGE]")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Run everything: broker, stream processors, environment workers, store.

    Runs until Ctrl-C unless --episodes or --minutes is given. A first Ctrl-C
    stops cleanly (episodes in hand finish, everything published is stored); a
    second one stops at once.
    """
    from dojo.workers.supervisor import Supervisor

    settings = _settings(store_path=store, env_workers=env_workers, policy=policy, stage=stage)
    supervisor = Supervisor(settings, episodes=episodes, minutes=minutes, live=not json_out)
    summary = asyncio.run(supervisor.run())
    if json_out:
        print(summary.model_dump_json())
    else:
        table = Table(title="dojo up: summary", show_header=False)
        for key, value in summary.model_dump().items():
            table.add_row(key, str(value))
        out.print(table)
    if summary.status != "ok":
        for problem in summary.errors:
            err.print(f"[red]error:[/red] {problem}", soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def broker(
    port: Annotated[
        int | None,
        typer.Option(help="Port on 127.0.0.1 (default: a free one) [env: DOJO_BROKER_PORT]"),
    ] = None,
) -> None:
    """Start the embedded Kafka-compatible broker (Tansu) and create Dojo's topics.

    Keeps everything in memory; stops on Ctrl-C. Point other commands at it with
    the DOJO_KAFKA_BOOTSTRAP it prints.
    """
    from dojo.broker.admin import ensure_topics
    from dojo.broker.embedded import BrokerStartError, EmbeddedBroker

    settings = _settings(broker_port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "broker.log").resolve()
    try:
        embedded = EmbeddedBroker.from_settings(settings, log).start()
    except BrokerStartError as exc:
        raise _fail(str(exc)) from None
    try:
        asyncio.run(
            ensure_topics(settings.model_copy(update={"kafka_bootstrap": embedded.bootstrap}))
        )
        err.print(
            f"broker ready on {embedded.bootstrap} (pid {embedded.pid}, log {log}); "
            "Ctrl-C stops it"
        )
        print(f"DOJO_KAFKA_BOOTSTRAP={embedded.bootstrap}", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    finally:
        embedded.stop()


@streams_app.command("worker")
def streams_worker(
    app_name: Annotated[str, typer.Option("--app", help="Which stream app to run.")] = "sink",
    store: StoreOption = None,
) -> None:
    """Run a Faust stream worker (the sink writes every event to the store)."""
    from dojo.broker.connection import BrokerNotConfigured
    from streams.worker import run_worker

    settings = _settings(store_path=store)
    try:
        run_worker(settings, app_name)
    except (BrokerNotConfigured, ValueError) as exc:
        raise _fail(str(exc), 2) from None


@app.command("env-worker")
def env_worker(
    index: Annotated[int, typer.Option(min=0, help="Worker number, for ids and seeds.")] = 0,
    episodes: Annotated[int | None, typer.Option(min=1, help="Stop after this many.")] = None,
    policy: Annotated[str | None, typer.Option(help="[env: DOJO_POLICY]")] = None,
    stage: Annotated[int | None, typer.Option(min=1, max=4, help="[env: DOJO_STAGE]")] = None,
) -> None:
    """Run episodes with a policy and publish every phase and decision event."""
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.workers.env_worker import run_env_worker

    settings = _settings(policy=policy, stage=stage)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        report = await run_env_worker(settings, index=index, episodes=episodes, stop=stop)
        err.print(f"env-worker {index}: {report.episodes} episodes, {report.events} events")

    try:
        asyncio.run(main())
    except (BrokerNotConfigured, ValueError) as exc:
        raise _fail(str(exc), 2) from None


@app.command()
def simulate(
    episode_type: Annotated[str, typer.Argument(help="E-1.1 … E-4.3 (SPEC §4)")],
    seed: Annotated[int, typer.Option(min=0, help="Scenario seed.")] = 0,
    difficulty: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.5,
    policy: Annotated[
        str, typer.Option(help="random, junior, senior, or human (you type each move)")
    ] = "senior",
    prompts: Annotated[bool, typer.Option("--prompts", help="Print every observation.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Play one episode of the simulated team and show what each decision caused."""
    from dojo.env import EPISODE_TYPES, EpisodeSpec
    from dojo.env.protocol import Observation
    from dojo.env.reference import REFERENCE_POLICIES, make_reference_policy
    from dojo.env.rollout import Policy, play
    from dojo.env.scorer import score_trace

    if episode_type not in EPISODE_TYPES:
        raise _fail(f"unknown episode type {episode_type!r}; known: {', '.join(EPISODE_TYPES)}", 2)
    if policy not in (*REFERENCE_POLICIES, "human"):
        raise _fail(f"unknown policy {policy!r}: random, junior, senior or human", 2)

    class Shown:
        """Prints each observation before the wrapped policy answers it."""

        def __init__(self, inner: Policy | None) -> None:
            self.inner = inner

        def decide(self, observation: Observation) -> str:
            if self.inner is None or prompts:
                out.print(observation.text, markup=False, highlight=False)
            if self.inner is None:
                return str(typer.prompt("move", default="", show_default=False))
            return self.inner.decide(observation)

    spec = EpisodeSpec(
        episode_type=episode_type, seed=seed, difficulty=difficulty, stage=int(episode_type[2])
    )
    inner = None if policy == "human" else make_reference_policy(policy, seed)
    if json_out and (inner is None or prompts):
        raise _fail(
            "--json prints only the trace: use it with a scripted policy, without --prompts", 2
        )
    trace = play(spec, inner if inner is not None and not prompts else Shown(inner))
    if json_out:
        print(trace.model_dump_json())
        return
    table = Table(title=f"{episode_type} seed {seed}, difficulty {difficulty}, {policy}")
    for column in ("#", "move", "consequences", "transition"):
        table.add_column(column)
    for i, (completion, step) in enumerate(zip(trace.completions, trace.steps, strict=True)):
        said = "\n".join(f"{c.kind}: {c.description}" for c in step.consequences)
        moved: str = step.transition or ""
        if step.transition_correct is not None:
            moved += " (right)" if step.transition_correct else " (wrong)"
        table.add_row(str(i + 1), completion.splitlines()[0] if completion else "", said, moved)
    out.print(table)
    outcome = trace.outcome
    out.print(
        f"outcome: {outcome.status}, {outcome.decisions} decisions "
        f"(baseline {outcome.baseline_actions})"
    )
    out.print("  " + ", ".join(f"{k} {v:.2f}" for k, v in outcome.signals.items()))
    if outcome.behaviour_metrics:
        proxies = outcome.behaviour_metrics.items()
        out.print("  proxies: " + ", ".join(f"{k} {v:.2f}" for k, v in proxies))
    scores = score_trace(trace.steps).scores
    if scores:
        out.print("  behaviours seen: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))


@store_app.command("stats")
def store_stats(store: StoreOption = None, json_out: JsonOption = False) -> None:
    """Counts per table, distinct event ids, orphan rows, torn episodes."""
    from dojo.store import StoreUnavailable, open_store
    from dojo.store import store_stats as compute

    settings = _settings(store_path=store)
    try:
        reader = open_store(settings.store_path)
    except StoreUnavailable as exc:
        raise _fail(str(exc)) from None
    try:
        stats = compute(reader)
    finally:
        reader.close()
    if json_out:
        print(stats.model_dump_json())
        return
    table = Table(title=f"store {settings.store_path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("distinct event ids", justify="right")
    for name, count in stats.tables.items():
        distinct = "" if count.distinct_event_ids is None else str(count.distinct_event_ids)
        table.add_row(name, str(count.rows), distinct)
    out.print(table)
    out.print(
        f"episodes completed {stats.episodes_completed}, incomplete {stats.episodes_incomplete}"
    )
    out.print("orphans: " + ", ".join(f"{k}={v}" for k, v in stats.orphans.items()))


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path | None, typer.Option("--dir", help="Default: schemas/")] = None,
) -> None:
    """Write the current version's JSON Schema (and golden sample, if new) of every event."""
    from dojo.events import schemas

    written = schemas.export(directory or schemas.SCHEMA_DIR)
    for path in written:
        out.print(f"wrote {path}")
    if not written:
        out.print("schemas/ is up to date")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="Default: schemas/")] = None,
) -> None:
    """Fail if the event models and schemas/ disagree."""
    from dojo.events import schemas

    problems = schemas.check(directory or schemas.SCHEMA_DIR)
    for problem in problems:
        err.print(f"{problem.path}: {problem.problem}")
    if problems:
        raise _fail(
            "schemas/ is out of date: run `dojo schemas export` (new versions need upcasters)"
        )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
