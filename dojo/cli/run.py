"""Running Dojo: everything at once (up), or one piece of it — the broker, a stream
worker, an environment worker, the learner, the evaluator."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Any

import typer
from rich.table import Table

from dojo.cli.common import JsonOption, StoreOption, err, fail, load_settings, out, stop_on_signals

streams_app = typer.Typer(help="Faust stream processors.", no_args_is_help=True)


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

    settings = load_settings(store_path=store, env_workers=env_workers, policy=policy, stage=stage)
    supervisor = Supervisor(settings, episodes=episodes, minutes=minutes, live=not json_out)
    try:
        summary = asyncio.run(supervisor.run())
    except UnknownPolicy as exc:
        raise fail(f"DOJO_POLICY: {exc}", 2) from None
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

    settings = load_settings(broker_port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "broker.log").resolve()
    try:
        embedded = EmbeddedBroker.from_settings(settings, log).start()
    except BrokerStartError as exc:
        raise fail(str(exc)) from None
    try:
        asyncio.run(ensure_topics(settings.replace(kafka_bootstrap=embedded.bootstrap)))
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

    settings = load_settings(store_path=store)
    try:
        run_worker(settings, app_name)
    except (BrokerNotConfigured, SecondSink, StoreInUse, ValueError) as exc:
        raise fail(str(exc), 2) from None


def env_worker(
    index: Annotated[int, typer.Option(min=0, help="Worker number, for ids and seeds.")] = 0,
    episodes: Annotated[int | None, typer.Option(min=1, help="Stop after this many.")] = None,
    policy: Annotated[str | None, typer.Option(help="[env: DOJO_POLICY]")] = None,
    stage: Annotated[int | None, typer.Option(min=1, max=4, help="[env: DOJO_STAGE]")] = None,
) -> None:
    """Run episodes with a policy and publish every phase and decision event."""
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.workers.env_worker import run_env_worker

    settings = load_settings(policy=policy, stage=stage)

    async def main() -> None:
        stop, broker_lost = stop_on_signals(), asyncio.Event()
        # dojo up: the embedded broker was restarted and lost everything
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, broker_lost.set)
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
        raise fail(str(exc), 2) from None


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

    settings = load_settings(policy=policy, learner_batch_size=batch_size, learner_qlora=qlora)
    if settings.policy.name in REFERENCE_POLICIES:
        raise fail(
            f"DOJO_POLICY={settings.policy.name} is a scripted policy: there is nothing to train", 2
        )
    from dojo.training.learner import run_learner
    from dojo.workers.actors import limit_torch_threads
    from dojo.workers.readiness import announce_ready

    limit_torch_threads(settings.learner.torch_threads or settings.torch_threads)

    def ready(trainer: Any) -> None:
        state = trainer.state
        announce_ready()  # dojo up waits for this (dojo.workers.readiness)
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
        stop = stop_on_signals()
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
        raise fail(str(exc), 2) from None


def evaluator_service() -> None:
    """Run the evaluation cadences and the curriculum on the live stream (dojo up starts it)."""
    from dojo.broker.connection import BrokerNotConfigured
    from dojo.workers.evaluator import run_evaluator

    settings = load_settings()

    async def main() -> None:
        stop = stop_on_signals()
        report = await run_evaluator(settings, stop=stop)
        err.print(
            f"evaluator: {report.episodes} episodes, reports {report.reports}, "
            f"stage changes {report.stage_changes}, failed evaluations {report.errors}"
        )

    try:
        asyncio.run(main())
    except (BrokerNotConfigured, RuntimeError) as exc:
        raise fail(str(exc), 2) from None
