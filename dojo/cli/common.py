"""What every command module shares: the consoles, settings with the options on top,
the error exit, and the option types several commands take."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from dojo.config import Settings, variable_at

err = Console(stderr=True)
out = Console()

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="DuckDB store file [env: DOJO_STORE_PATH]")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="Base model preset, folder or hub id (default: DOJO_POLICY if it is a model, "
        "else the tiny preset)."
    ),
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the CLI's explicit options on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors(include_url=False):
            where = variable_at(problem["loc"])
            err.print(f"[red]configuration error[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned exit."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; call it inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def metric_cell(value: float | None) -> str:
    """A metric in a table: three decimals, or a dash when it was not measured."""
    return "—" if value is None else f"{value:.3f}"
