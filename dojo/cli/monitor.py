"""Watching a run: the terminal monitor and the web dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from dojo.cli.common import JsonOption, StoreOption, fail, load_settings, out, stop_on_signals


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
        raise fail("--json prints one snapshot: use it with --once", 2)
    settings = load_settings(store_path=store, monitor_refresh_s=refresh)

    async def main() -> None:
        async with Monitor(settings, broker=broker) as watch:
            if once:
                state = await watch.snapshot()
                if json_out:
                    print(state.model_dump_json())
                else:
                    out.print(draw(state))
                return
            await run_live(watch, out, settings.monitor.refresh_s)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


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
    from dojo.workers.readiness import announce_ready
    from streams.adverts import advertise

    settings = load_settings(
        store_path=store, dashboard_host=host, dashboard_port=port, monitor_refresh_s=refresh
    )

    async def main() -> None:
        stop = stop_on_signals()
        advert: Path | None = None

        def ready(url: str) -> None:
            nonlocal advert
            advert = advertise(settings, "dashboard", int(url.rsplit(":", 1)[1]))
            announce_ready()  # dojo up waits for this (dojo.workers.readiness)
            print(
                f"dashboard ready on {url} (Prometheus metrics at {url}/metrics)",
                file=sys.stderr,
                flush=True,
            )

        try:
            await serve(
                Monitor(settings),
                settings.dashboard.host,
                settings.dashboard.port,
                settings.monitor.refresh_s,
                ready,
                stop,
            )
        finally:
            if advert is not None:
                advert.unlink(missing_ok=True)

    try:
        asyncio.run(main())
    except OSError as exc:
        raise fail(f"cannot serve the dashboard: {exc}") from None
