"""Running one of Dojo's Faust apps as a worker process (``dojo streams worker``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import faust

from dojo.broker.embedded import free_port
from dojo.config import Settings
from streams.adverts import advertise

#: app name -> "module:builder". Imported only when run: a sink need not pay for the
#: scoring app's imports (the judge, the Anthropic SDK) at every start.
APPS: dict[str, str] = {
    "sink": "streams.sink:build_sink",
    "scoring": "streams.scoring:build_scoring",
}


def app_builder(app_name: str) -> Callable[[Settings, int], faust.App]:
    module, _, builder = APPS[app_name].partition(":")
    builder_fn: Callable[[Settings, int], faust.App] = getattr(
        importlib.import_module(module), builder
    )
    return builder_fn


def make_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """A Faust worker for ``app`` logging at ``settings.log_level``, with no spinner.

    Faust keeps a terminal progress spinner at levels from WARN up, and to spin it
    on every log record it sets the root logger to DEBUG: every debug call of
    aiokafka and Faust (several per message produced) then built a record that the
    handler dropped, 7 % of the scoring worker's time. A worker's output goes to a
    log file; nothing there needs a spinner.
    """
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.spinner = None
    return worker


def run_worker(settings: Settings, app_name: str) -> None:
    """Blocks until the worker is stopped (SIGINT / SIGTERM stop it cleanly)."""
    if app_name not in APPS:
        raise ValueError(f"unknown stream app {app_name!r}; choose from {', '.join(APPS)}")
    port = settings.streams.web_port or free_port()
    app = app_builder(app_name)(settings, port)
    worker = make_worker(app, settings)
    advert = advertise(settings, app_name, port)  # for the monitor (streams.adverts)
    try:
        worker.execute_from_commandline()
    finally:
        advert.unlink(missing_ok=True)
