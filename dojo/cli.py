"""The ``dojo`` command: a thin layer over library functions.

Every option that is also a setting overrides its ``DOJO_*`` variable for this
run only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
topics_app = typer.Typer(
    help="Dojo's Kafka topics (one table: dojo/topics.py).", no_args_is_help=True
)
app.add_typer(topics_app, name="topics")

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
    from dojo.workers.actors import UnknownPolicy
    from dojo.workers.supervisor import Supervisor

    settings = _settings(store_path=store, env_workers=env_workers, policy=policy, stage=stage)
    supervisor = Supervisor(settings, episodes=episodes, minutes=minutes, live=not json_out)
    try:
        summary = asyncio.run(supervisor.run())
    except UnknownPolicy as exc:
        raise _fail(f"DOJO_POLICY: {exc}", 2) from None
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
            f"broker ready on {embedded.bootstrap} (pid {embedded.pid}, log {log}); Ctrl-C stops it"
        )
        print(f"DOJO_KAFKA_BOOTSTRAP={embedded.bootstrap}", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    finally:
        embedded.stop()


@streams_app.command("worker")
def streams_worker(
    app_name: Annotated[
        str,
        typer.Option(
            "--app",
            help="Which stream app to run: sink (stores every event) or scoring "
            "(rewards, the judge, drift, scored trajectories).",
        ),
    ] = "sink",
    store: StoreOption = None,
) -> None:
    """Run a Faust stream worker (the sink writes every event to the store)."""
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.store.writer import StoreInUse
    from streams.single_writer import SecondSink
    from streams.worker import run_worker

    settings = _settings(store_path=store)
    try:
        run_worker(settings, app_name)
    except (BrokerNotConfigured, SecondSink, StoreInUse, ValueError) as exc:
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
        stop, broker_lost = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # dojo up: the embedded broker was restarted and lost everything
        loop.add_signal_handler(signal.SIGUSR1, broker_lost.set)
        report = await run_env_worker(
            settings, index=index, episodes=episodes, stop=stop, broker_lost=broker_lost
        )
        err.print(
            f"env-worker {index}: {report.episodes} episodes, {report.events} events"
            + (f", {report.republished} episodes published again" if report.republished else "")
        )

    try:
        asyncio.run(main())
    except (BrokerNotConfigured, ValueError) as exc:
        raise _fail(str(exc), 2) from None


@app.command("learner")
def learner(
    updates: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many updates.")
    ] = None,
    policy: Annotated[str | None, typer.Option(help="Base model [env: DOJO_POLICY]")] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Trajectories per update [env: DOJO_LEARNER_BATCH_SIZE]"),
    ] = None,
    qlora: Annotated[
        bool | None, typer.Option("--qlora/--no-qlora", help="4-bit base [env: DOJO_LEARNER_QLORA]")
    ] = None,
) -> None:
    """Train the policy's LoRA adapter by PPO on scored trajectories (dojo up starts it).

    Resumes from its newest checkpoint under the data dir; publishes a policy
    version every DOJO_LEARNER_PUBLISH_EVERY updates, which environment workers
    load between episodes. Ctrl-C stops it after checkpointing and publishing.
    """
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.env.reference import REFERENCE_POLICIES

    settings = _settings(policy=policy, learner_batch_size=batch_size, learner_qlora=qlora)
    if settings.policy in REFERENCE_POLICIES:
        raise _fail(
            f"DOJO_POLICY={settings.policy} is a scripted policy: there is nothing to train", 2
        )
    from dojo.training.learner import run_learner
    from dojo.workers.actors import limit_torch_threads

    limit_torch_threads(settings.learner_torch_threads or settings.torch_threads)

    def ready(trainer: Any) -> None:
        state = trainer.state
        err.print(
            f"learner ready: {state.base_model}, lineage {state.lineage}, "
            f"{state.updates} updates so far, acting version {state.policy_version}"
        )

    def updated(result: Any, report: Any) -> None:
        m = result.metrics
        err.print(
            f"update {result.update}: {len(result.trained)} trajectories, "
            f"reward {m['reward_mean']:.3f}, entropy {m['entropy']:.3f}, "
            f"kl {m.get('kl_to_reference', float('nan')):.4f}, clip {m['clip_fraction']:.2f}, "
            f"lag {m['policy_lag']:.2f}, dropped {len(result.dropped)}, "
            f"idle {report.idle_ratio:.2f}"
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        report = await run_learner(
            settings, stop=stop, max_updates=updates, on_update=updated, on_ready=ready
        )
        err.print(
            f"learner: {report.updates} updates, {report.trajectories} trajectories trained, "
            f"{report.dropped} dropped as stale, {report.skipped} skipped, "
            f"{report.dead_letters} dead letters, published {', '.join(report.published) or 'nothing'}, "
            f"idle ratio {report.idle_ratio:.2f}"
        )

    try:
        asyncio.run(main())
    except (BrokerNotConfigured, RuntimeError, ValueError) as exc:
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


@topics_app.command("list")
def topics_list(json_out: JsonOption = False) -> None:
    """The topic table: names (with DOJO_TOPIC_PREFIX), partitions, keys, retention, events."""
    from dojo.topics import TOPICS

    prefix = _settings().topic_prefix
    rows = [
        {
            "name": spec.name(prefix),
            "partitions": spec.partitions,
            "key": spec.key,
            "retention_days": spec.retention_ms / 86_400_000,
            "events": list(spec.events),
        }
        for spec in TOPICS.values()
    ]
    if json_out:
        print(json.dumps(rows))
        return
    table = Table(title="topics")
    for column in ("name", "partitions", "key", "retention (days)", "events"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["partitions"]),
            str(row["key"] or "—"),
            f"{row['retention_days']:g}",
            ", ".join(row["events"]),  # type: ignore[arg-type]
        )
    out.print(table)


@topics_app.command("create")
def topics_create(
    replication_factor: Annotated[
        int, typer.Option(min=1, help="Replicas of each new topic (existing ones are kept).")
    ] = 1,
) -> None:
    """Create every missing topic on DOJO_KAFKA_BOOTSTRAP; check the partitions of existing ones."""
    from dojo.broker.admin import TopicMismatch, ensure_topics
    from dojo.broker.connection import BrokerNotConfigured

    settings = _settings()
    try:
        counts = asyncio.run(ensure_topics(settings, replication_factor=replication_factor))
    except (BrokerNotConfigured, TopicMismatch) as exc:
        raise _fail(str(exc), 2) from None
    for name, partitions in counts.items():
        out.print(f"{name}: {partitions} partitions")


@app.command("config")
def config_show(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the README's table of every variable.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show the configuration in effect: every DOJO_* variable and its value (secrets masked)."""
    from dojo.config_table import effective, markdown_table, setting_rows

    if markdown:
        print(markdown_table())
        return
    values = effective(_settings())
    if json_out:
        print(json.dumps(values))
        return
    table = Table(title="configuration in effect")
    table.add_column("variable")
    table.add_column("value")
    table.add_column("meaning")
    for row in setting_rows():
        table.add_row(row.variables[0], values[row.variables[0]], row.description)
    out.print(table)


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


# --- evaluation and curriculum (SPEC §5, §6) ---------------------------------------------

eval_app = typer.Typer(
    help=(
        "Solo evaluation: a policy and four baselines over held-out solo tasks "
        "(elicitation, research, planning, execution, verification) with a simulated human."
    ),
    invoke_without_command=True,
)
curriculum_app = typer.Typer(help="The four-stage curriculum.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(curriculum_app, name="curriculum")


def _eval_progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _metric_cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


@eval_app.callback(invoke_without_command=True)
def eval_run(
    ctx: typer.Context,
    adapter: Annotated[
        str,
        typer.Option(
            help="Adapter to evaluate: 'latest' (the newest version the learner published "
            "for this base), a version (v000012, v000012-averaged), a folder, or 'none' "
            "(the base model)."
        ),
    ] = "latest",
    cadence: Annotated[
        str,
        typer.Option(
            help="quick (primary metrics), full (all metrics) or comprehensive "
            "(all metrics + transfer scores)."
        ),
    ] = "quick",
    model: Annotated[
        str | None,
        typer.Option(
            help="Base model preset, folder or hub id (default: DOJO_POLICY if it is a model, "
            "else DOJO_EVAL_BASE_MODEL)."
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Evaluate a scripted reference policy (random, junior, senior) instead of "
            "a model; the model baselines still run."
        ),
    ] = None,
    tasks: Annotated[
        int | None, typer.Option(min=1, help="Solo tasks to play (default: the cadence's count).")
    ] = None,
    stage: Annotated[
        int | None,
        typer.Option(min=1, max=4, help="Curriculum stage the report is filed under (DOJO_STAGE)."),
    ] = None,
    store: StoreOption = None,
    publish: Annotated[
        bool, typer.Option(help="Also publish the EvalReport to the evals topic.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Evaluate a policy on held-out solo tasks, with every baseline on the same tasks.

    Prints the SPEC §6 metrics of the policy and of the baselines (base model
    without adapter, prompt-only base model, scripted senior, random policy);
    comprehensive adds transfer scores (solo / team metric of the same policy
    version's training episodes in the store).
    """
    if ctx.invoked_subcommand is not None:
        return
    from dojo.eval import CADENCES, EvalError, Evaluator, scripted_subject, subject_for_cli
    from dojo.eval.metrics import METRICS
    from dojo.eval.report import report_event
    from dojo.eval.transfer import team_metrics
    from dojo.events import Stamper
    from dojo.policy import ModelUnavailableError
    from dojo.store import StoreUnavailable, open_store

    if cadence not in CADENCES:
        raise _fail(f"--cadence must be one of {', '.join(CADENCES)}, not {cadence!r}", 2)
    count_setting = f"eval_{cadence}_tasks"
    settings = _settings(store_path=store, stage=stage, **{count_setting: tasks})
    try:
        with err.status("loading the model"):
            if policy is not None:
                subject = scripted_subject(policy, settings, model)
            else:
                subject = subject_for_cli(adapter, settings, model)
    except (EvalError, ModelUnavailableError, ValueError, KeyError) as exc:
        raise _fail(str(exc), 2) from None
    team = None
    if cadence == "comprehensive":
        try:
            reader = open_store(settings.store_path)
        except StoreUnavailable as exc:
            err.print(f"[yellow]no transfer scores:[/yellow] {exc}")
        else:
            try:
                team = team_metrics(reader, subject.version, window=settings.eval_team_window)
            finally:
                reader.close()
    with _eval_progress() as bars:
        ids: dict[str, Any] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in ids:
                ids[label] = bars.add_task(label, total=total)
            bars.update(ids[label], completed=done)

        result = Evaluator(settings).evaluate(
            subject,
            cadence,
            stage=settings.stage,
            team=team,
            progress=progress,
        )
    from datetime import UTC, datetime

    report_id = f"cli-{cadence}-{result.policy_version}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    if publish:
        from dojo.broker.connection import BrokerNotConfigured
        from dojo.workers.evaluator import publish_event

        event = report_event(result, report_id, Stamper("dojo-eval-cli"))
        try:
            asyncio.run(publish_event(settings, event))
        except BrokerNotConfigured as exc:
            raise _fail(str(exc), 2) from None
    if json_out:
        document = {"report_id": report_id, **result.model_dump(mode="json")}
        document["targets"] = {
            name: {"direction": METRICS[name].direction, "target": METRICS[name].target}
            for name in result.metrics
        }
        print(json.dumps(document))
        return
    table = Table(
        title=f"{cadence} evaluation of {result.policy_version}: {result.tasks} solo tasks, "
        f"{result.seconds:.0f}s"
    )
    columns = ["subject", *result.baselines]
    table.add_column("metric")
    table.add_column("target", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    if result.transfer:
        table.add_column("team", justify="right")
        table.add_column("transfer", justify="right")
    for name, value in result.metrics.items():
        info = METRICS[name]
        target = (
            ""
            if info.target is None
            else f"{'>' if info.direction == 'higher' else '<'} {info.target:g}"
        )
        row = [name, target, _metric_cell(value)]
        row += [_metric_cell(result.baselines[b].get(name)) for b in result.baselines]
        if result.transfer:
            row += [_metric_cell(result.team.get(name)), _metric_cell(result.transfer.get(name))]
        table.add_row(*row)
    out.print(table)
    out.print(
        "baselines: "
        + ", ".join(f"{name} = {version}" for name, version in result.baseline_versions.items())
    )


@eval_app.command("reports")
def eval_reports(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 10,
    store: StoreOption = None,
    json_out: JsonOption = False,
) -> None:
    """The evaluation reports in the store (from dojo up's evaluator or --publish)."""
    from dojo.eval.metrics import PRIMARY_NAMES
    from dojo.eval.report import stored_reports
    from dojo.store import StoreUnavailable, open_store

    settings = _settings(store_path=store)
    try:
        reader = open_store(settings.store_path)
    except StoreUnavailable as exc:
        raise _fail(str(exc)) from None
    try:
        reports = stored_reports(reader, limit)
    finally:
        reader.close()
    if json_out:
        print(json.dumps(reports))
        return
    table = Table(title=f"evaluation reports in {settings.store_path}")
    for column in ("report", "policy", "stage", "tasks"):
        table.add_column(column, justify="left" if column in ("report", "policy") else "right")
    # elicitation_quality -> elicitation, self_correction_rate -> self_correction
    for name in PRIMARY_NAMES:
        table.add_column(name.rsplit("_", 1)[0], justify="right")
    for r in reports:
        table.add_row(
            r["report_id"],
            r["policy_version"],
            str(r["stage"]),
            str(r["tasks"]),
            *(_metric_cell(r["metrics"].get(name)) for name in PRIMARY_NAMES),
        )
    out.print(table)
    if not reports:
        out.print("no reports yet")


@app.command("evaluator")
def evaluator_service() -> None:
    """Run the evaluation cadences and the curriculum on the live stream (dojo up starts it)."""
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.workers.evaluator import run_evaluator

    settings = _settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        report = await run_evaluator(settings, stop=stop)
        err.print(
            f"evaluator: {report.episodes} episodes, reports {report.reports}, "
            f"stage changes {report.stage_changes}, failed evaluations {report.errors}"
        )

    try:
        asyncio.run(main())
    except (BrokerNotConfigured, RuntimeError) as exc:
        raise _fail(str(exc), 2) from None


@curriculum_app.command("stages")
def curriculum_stages(json_out: JsonOption = False) -> None:
    """The four stages: environment, director actions, graduation criteria."""
    from dojo.curriculum import STAGES

    if json_out:
        print(
            json.dumps(
                {
                    n: {
                        "name": s.name,
                        "environment": s.environment,
                        "behaviours": s.behaviours,
                        "criteria": [c.describe() for c in s.criteria],
                        "director": s.director,
                    }
                    for n, s in STAGES.items()
                }
            )
        )
        return
    table = Table(title="curriculum")
    for column in ("stage", "environment", "director actions", "graduation"):
        table.add_column(column)
    for n, s in STAGES.items():
        table.add_row(
            f"{n} {s.name}",
            s.environment,
            ", ".join(f"{a}:{w:g}" for a, w in sorted(s.director.items())),
            "; ".join(c.describe() for c in s.criteria),
        )
    out.print(table)


@curriculum_app.command("status")
def curriculum_status(
    store: StoreOption = None,
    window: Annotated[int | None, typer.Option(min=1, help="[env: DOJO_CURRICULUM_WINDOW]")] = None,
    json_out: JsonOption = False,
) -> None:
    """The current stage and each graduation criterion, measured from the store."""
    from dojo.curriculum import curriculum_from_store
    from dojo.store import StoreUnavailable, open_store

    settings = _settings(store_path=store, curriculum_window=window)
    try:
        reader = open_store(settings.store_path)
    except StoreUnavailable as exc:
        raise _fail(str(exc)) from None
    try:
        curriculum = curriculum_from_store(
            reader, stage=settings.stage, window=settings.curriculum_window
        )
    finally:
        reader.close()
    status = curriculum.status()
    if json_out:
        print(
            json.dumps(
                {
                    **status.model_dump(mode="json"),
                    "episodes": curriculum.episodes,
                    "curriculum_complete": curriculum.complete,
                }
            )
        )
        return
    table = Table(
        title=f"stage {status.stage} ({status.name}): mean of the last {status.window} "
        f"measurements, {curriculum.episodes} training episodes"
    )
    for column in ("criterion", "value", "measurements", "met"):
        table.add_column(column, justify="left" if column == "criterion" else "right")
    for c in status.criteria:
        table.add_row(
            c.criterion, _metric_cell(c.value), str(c.measurements), "yes" if c.met else "no"
        )
    out.print(table)


@curriculum_app.command("ablate")
def curriculum_ablate(
    candidate: Annotated[
        str, typer.Option(help="Policy trained and evaluated: random, junior or senior.")
    ] = "senior",
    episodes_per_stage: Annotated[
        int, typer.Option(min=1, help="Director episodes in each stage of an arm.")
    ] = 24,
    tasks: Annotated[int, typer.Option(min=1, help="Solo tasks of each arm's evaluation.")] = 10,
    window: Annotated[int | None, typer.Option(min=1, help="[env: DOJO_CURRICULUM_WINDOW]")] = None,
    seed: Annotated[int, typer.Option(help="Director and environment seed.")] = 0,
    json_out: JsonOption = False,
) -> None:
    """Ablations: stage 1 only, 1+2, 1+2+3, all — each arm's team metrics and solo metrics."""
    from dojo.curriculum import run_ablation
    from dojo.env.reference import REFERENCE_POLICIES
    from dojo.eval import ScriptedSoloPolicy, aggregate, run_solo, select_tasks

    if candidate not in REFERENCE_POLICIES:
        raise _fail(f"--candidate must be one of {', '.join(REFERENCE_POLICIES)}", 2)
    settings = _settings(curriculum_window=window)
    solo_tasks = select_tasks(tasks, settings.eval_bank_size)

    def evaluate(policy: Any) -> tuple[str, dict[str, float | None]]:
        solo = ScriptedSoloPolicy(policy)
        traces = run_solo(solo_tasks, solo, budget_factor=settings.eval_phase_budget)
        return solo.version, aggregate(traces)

    with err.status("running the ablation arms"):
        results = run_ablation(
            lambda: candidate,
            episodes_per_stage=episodes_per_stage,
            evaluate=evaluate,
            window=settings.curriculum_window,
            seed=seed,
        )
    if json_out:
        print(json.dumps([r.model_dump(mode="json") for r in results]))
        return
    from dojo.eval.metrics import PRIMARY_NAMES

    table = Table(title=f"curriculum ablation ({candidate}, {episodes_per_stage} episodes/stage)")
    table.add_column("metric")
    for r in results:
        table.add_column(r.arm, justify="right")
    table.add_row("episodes", *(str(r.episodes) for r in results))
    table.add_row("graduated", *(",".join(map(str, r.graduated)) or "—" for r in results))
    team_names = sorted({k for r in results for k in r.team})
    for name in team_names:
        table.add_row(f"team {name}", *(_metric_cell(r.team.get(name)) for r in results))
    for name in PRIMARY_NAMES:
        table.add_row(f"solo {name}", *(_metric_cell(r.solo.get(name)) for r in results))
    out.print(table)


# --- replay (issue 7) ---------------------------------------------------------------------


def _when(value: str | None, option: str) -> Any:
    """An ISO-8601 date or time from the command line; without a zone, UTC."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option}: expected an ISO-8601 date or time, got {value!r}", 2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def replay(
    store: StoreOption = None,
    reward_config: Annotated[
        Path | None,
        typer.Option(
            "--reward-config",
            exists=True,
            dir_okay=False,
            help="Reward config YAML to re-score with [env: DOJO_REWARD_CONFIG; default: the shipped one]",
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            help="offline or anthropic: whose verdicts feed the J components [env: DOJO_JUDGE]"
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Episodes started at or after (ISO-8601, UTC if no zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Episodes started before (ISO-8601).")] = None,
    stage: Annotated[
        int | None, typer.Option(min=1, max=4, help="Only this curriculum stage.")
    ] = None,
    episode_type: Annotated[
        str | None, typer.Option("--episode-type", help="Only this episode type (E-1.1 … E-4.3).")
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Also send each replayed episode as TrajectoryScored for the learner (needs the broker).",
        ),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(help="Reward version to compare with (default: the most stored other one)."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Ask the judge again where it failed before.")
    ] = False,
    top: Annotated[int, typer.Option(min=0, help="How many top-moving episodes to list.")] = 10,
    json_out: JsonOption = False,
) -> None:
    """Re-score stored decisions under a reward config (and judge), appending new reward rows.

    Nothing is overwritten: rewards of the new version are new rows, and rows that
    exist already (an earlier replay, or the live run under the same config) are
    left alone. Stored verdicts are reused; only due decisions without one are
    judged, through the verdict cache. When a live sink holds the store, the rows
    go through the broker for it to store; otherwise the replay writes them itself.
    Prints the per-behaviour means old vs new, the rank correlation of episode
    totals and the episodes that moved most.
    """
    from pydantic import ValidationError as InvalidFilter

    from dojo.broker.connection import BrokerNotConfigured
    from dojo.judge.factory import JudgeNotConfigured
    from dojo.replay import ReplayFilter, ReplayOptions, StoreBusy, run_replay
    from dojo.replay.show import BarProgress, render
    from dojo.store import StoreUnavailable

    settings = _settings(store_path=store, judge=judge)
    try:
        options = ReplayOptions(
            reward_config=reward_config,
            judge=settings.judge,
            filter=ReplayFilter(
                since=_when(since, "--since"),
                until=_when(until, "--until"),
                stage=stage,
                episode_type=episode_type,
            ),
            publish=publish,
            against=against,
            retry_failed=retry_failed,
            top=top,
        )
    except InvalidFilter as exc:
        raise _fail(str(exc), 2) from None
    try:
        with BarProgress(err) as bars:
            report = asyncio.run(run_replay(settings, options, progress=bars))
    except (
        StoreUnavailable,
        StoreBusy,
        JudgeNotConfigured,
        BrokerNotConfigured,
        ValueError,
    ) as exc:
        raise _fail(str(exc)) from None
    except TimeoutError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(report.model_dump_json())
    else:
        out.print(render(report))


# --- monitoring (issue 7) -----------------------------------------------------------------


@app.command()
def monitor(
    store: StoreOption = None,
    once: Annotated[bool, typer.Option("--once", help="Print the current state and exit.")] = False,
    json_out: JsonOption = False,
    refresh: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between redraws [env: DOJO_MONITOR_REFRESH_S]"),
    ] = None,
    broker: Annotated[
        bool,
        typer.Option(
            "--broker/--no-broker",
            help="Follow the drift topic and read consumer lag (when DOJO_KAFKA_BOOTSTRAP is set).",
        ),
    ] = True,
) -> None:
    """Live terminal dashboard: reward drift per behaviour (agreement and residual
    sparklines, alerts), the learner's reward and KL, rewards per version, the judge,
    pipeline lag and the latest evaluation. Ctrl-C leaves.

    Reads the store (directly, or through the live sink) and, when a broker is
    configured, the drift topic as it flows and the consumer groups' lag.
    """
    from dojo.monitor.source import Monitor
    from dojo.monitor.terminal import render as draw
    from dojo.monitor.terminal import run_live

    if json_out and not once:
        raise _fail("--json prints one snapshot: use it with --once", 2)
    settings = _settings(store_path=store, monitor_refresh_s=refresh)

    async def main() -> None:
        async with Monitor(settings, broker=broker) as watch:
            if once:
                state = await watch.snapshot()
                if json_out:
                    print(state.model_dump_json())
                else:
                    out.print(draw(state))
                return
            await run_live(watch, out, settings.monitor_refresh_s)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def dashboard(
    store: StoreOption = None,
    host: Annotated[str | None, typer.Option(help="[env: DOJO_DASHBOARD_HOST]")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="0: a free one [env: DOJO_DASHBOARD_PORT]")
    ] = None,
    refresh: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between snapshots [env: DOJO_MONITOR_REFRESH_S]"),
    ] = None,
) -> None:
    """Serve the web dashboard (live charts of drift windows and alerts, rewards per
    version, learner curves, evaluation reports) and Prometheus metrics at /metrics.

    Self-contained: the page loads nothing from the internet. Runs until Ctrl-C.
    """
    from dojo.monitor.source import Monitor
    from dojo.monitor.web import serve
    from streams.adverts import advertise

    settings = _settings(
        store_path=store, dashboard_host=host, dashboard_port=port, monitor_refresh_s=refresh
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        advert: Path | None = None

        def ready(url: str) -> None:
            nonlocal advert
            advert = advertise(settings, "dashboard", int(url.rsplit(":", 1)[1]))
            # dojo up waits for this line (dojo.workers.services.DASHBOARD)
            print(
                f"dashboard ready on {url} (Prometheus metrics at {url}/metrics)",
                file=sys.stderr,
                flush=True,
            )

        try:
            await serve(
                Monitor(settings),
                settings.dashboard_host,
                settings.dashboard_port,
                settings.monitor_refresh_s,
                ready,
                stop,
            )
        finally:
            if advert is not None:
                advert.unlink(missing_ok=True)

    try:
        asyncio.run(main())
    except OSError as exc:
        raise _fail(f"cannot serve the dashboard: {exc}") from None


ModelOption = Annotated[
    str | None,
    typer.Option(
        help="Base model preset, folder or hub id (default: DOJO_POLICY if it is a model, "
        "else the tiny preset)."
    ),
]


@app.command()
def serve(
    model: ModelOption = None,
    adapter: Annotated[
        str,
        typer.Option(
            help="'latest' (the newest version published for this base, followed between "
            "requests; the base model until one is published), a version (v000012, "
            "v000012-averaged), an adapter folder, or 'none' (the base model)."
        ),
    ] = "latest",
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on; any but a loopback one needs an API key "
            "(env: DOJO_SERVE_HOST; default 127.0.0.1)"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="0: a free one (env: DOJO_SERVE_PORT; default 8000)"),
    ] = None,
) -> None:
    """Serve a base model and adapter as an OpenAI-compatible API (/v1/chat/completions,
    /v1/completions, /v1/models), plain and streamed, with log-probs and token ids.

    Free text, not Dojo's move grammar. Requests are generated one at a time on one
    worker; prompts never leave the machine. The API key comes from DOJO_SERVE_API_KEY or
    a file named by DOJO_SERVE_API_KEY_FILE, never from the command line (where other
    users of the machine could read it). Runs until Ctrl-C.
    """
    from dojo.serve.security import InsecureAddress, check_address

    settings = _settings(serve_host=host, serve_port=port)
    key = settings.serve_api_key
    try:  # before the model stack is imported: a refusal is immediate
        check_address(settings.serve_host, None if key is None else key.get_secret_value())
    except InsecureAddress as exc:
        raise _fail(str(exc), 2) from None
    from dojo.policy import ModelUnavailableError
    from dojo.policy.registry import AdapterNotFound
    from dojo.serve.app import run

    def ready(url: str, engine: Any) -> None:
        keyed = "an API key is required" if settings.serve_api_key else "no API key"
        print(
            f"dojo serve: {engine.describe()}; OpenAI-compatible API on {url}/v1 ({keyed})",
            file=sys.stderr,
            flush=True,
        )

    try:
        run(settings, model=model, adapter=adapter, on_ready=ready)
    except InsecureAddress as exc:
        raise _fail(str(exc), 2) from None
    except (AdapterNotFound, ModelUnavailableError, ValueError) as exc:
        raise _fail(str(exc), 2) from None


@app.command()
def chat(
    brief: Annotated[
        Path,
        typer.Option(
            help="The Markdown brief to write. The session's state is kept beside it, in "
            "<brief>.session.json, after every move (what --resume reads)."
        ),
    ],
    model: ModelOption = None,
    adapter: Annotated[
        str,
        typer.Option(
            help="'latest' (the newest version published for this base; the base model until "
            "one is), a version (v000012, v000012-averaged), an adapter folder, or 'none'."
        ),
    ] = "latest",
    docs: Annotated[
        Path | None,
        typer.Option(help="A folder of documents and code that research moves search (BM25)."),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="The task, in a few sentences (default: asked at the start).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the session kept beside --brief where it stopped."),
    ] = False,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="DuckDB store to record the session into (default: DOJO_STORE_PATH, unless "
            "DOJO_KAFKA_BOOTSTRAP names a broker: then the events go onto Kafka only and its "
            "sink stores them)",
        ),
    ] = None,
    rate: Annotated[
        bool, typer.Option(help="Ask for a rating of the session and of single moves at the end.")
    ] = True,
) -> None:
    """Work with a model on a real task at the terminal: it asks, researches --docs and
    plans through the moves it was trained on, you answer in free text, and the session
    ends with a brief (scope, assumptions, open questions, research notes with sources,
    the ordered plan with risks and dependencies).

    Answer '/next' to end a phase, '/done' to write the brief now; Ctrl-C leaves and
    still writes what there is (--resume continues). The session is recorded as episodes
    tagged as human (source dojo-chat), your rating as reward version human-1. Your text
    stays on this machine unless the configured judge is a remote API (DOJO_JUDGE=anthropic).
    """
    from dojo.chat.app import ChatError, ChatOptions, run_chat
    from dojo.eval.harness import EvalError
    from dojo.policy import ModelUnavailableError

    settings = _settings()
    options = ChatOptions(
        brief=brief, model=model, adapter=adapter, docs=docs, resume=resume, store=store,
        task=task, rate=rate,
    )  # fmt: skip
    try:
        result = run_chat(settings, options, out)
    except (ChatError, EvalError, ModelUnavailableError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    except (KeyboardInterrupt, EOFError):  # before the session started: nothing to keep
        raise _fail("stopped before the session started", 130) from None
    delivery = result.delivery
    for problem in delivery.problems:
        err.print(f"[yellow]warning:[/yellow] {problem}")
    where = [f"{delivery.stored} events stored"] if delivery.stored else []
    where += [f"{delivery.sent} sent to Kafka"] if delivery.sent else []
    print(
        f"session {result.notes.session_id}: {', '.join(where) or 'not recorded'}; brief {result.brief}"
    )
    if result.interrupted:
        print(f"stopped: continue with dojo chat --brief {result.brief} --resume")
        raise typer.Exit(130)


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Folder to write (refused if not empty, see --force).")],
    adapter: Annotated[
        str,
        typer.Option(help="'latest', a version (v000012, v000012-averaged) or an adapter folder."),
    ] = "latest",
    model: ModelOption = None,
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="Write the base with the adapter merged in, plus the tokenizer: a plain "
            "transformers model (vLLM serves it as is).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a folder that is not empty.")
    ] = False,
) -> None:
    """Export an adapter as a standalone PEFT folder with its model card (README.md), or
    with --merged as the base model with the adapter merged into its weights."""
    from dojo.policy import ModelUnavailableError
    from dojo.policy.registry import AdapterNotFound
    from dojo.serve.export import ExportError, export_adapter

    settings = _settings()
    try:
        with err.status("exporting"):
            result = export_adapter(settings, adapter, out, model=model, merged=merged, force=force)
    except (ExportError, AdapterNotFound, ModelUnavailableError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    what = "merged model" if result.merged else "adapter"
    print(f"exported {what} {result.version} to {result.out} (base: {result.base_model})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
