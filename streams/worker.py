"""Running one of Dojo's Faust apps as a worker process (``dojo streams worker``)."""

from __future__ import annotations

from collections.abc import Callable

import faust

from dojo.broker.embedded import free_port
from dojo.config import Settings
from streams.adverts import advertise
from streams.scoring import build_scoring
from streams.sink import build_sink

APPS: dict[str, Callable[[Settings, int], faust.App]] = {
    "sink": build_sink,
    "scoring": build_scoring,
}


def run_worker(settings: Settings, app_name: str) -> None:
    """Blocks until the worker is stopped (SIGINT / SIGTERM stop it cleanly)."""
    if app_name not in APPS:
        raise ValueError(f"unknown stream app {app_name!r}; choose from {', '.join(APPS)}")
    port = settings.streams_web_port or free_port()
    app = APPS[app_name](settings, port)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    advert = advertise(settings, app_name, port)  # for the monitor (streams.adverts)
    try:
        worker.execute_from_commandline()
    finally:
        advert.unlink(missing_ok=True)
