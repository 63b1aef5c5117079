"""The web dashboard and the Prometheus endpoint: a small aiohttp app.

``GET /`` serves one self-contained page (``dashboard.html``: its script and
styles inline, charts drawn as SVG — nothing is fetched from anywhere else,
so it works with no internet), with the latest snapshot embedded so it draws
at once; it then polls ``GET /api/state``. ``GET /metrics`` is the Prometheus
text format of the same snapshot (:mod:`dojo.monitor.prometheus`).

One background task takes a snapshot every ``refresh_s`` seconds; requests
only ever read the latest one, so neither browsers nor scrapers add load on
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from importlib import resources

from aiohttp import web

from dojo.monitor.prometheus import CONTENT_TYPE, exposition
from dojo.monitor.source import Monitor
from dojo.monitor.state import MonitorState

log = logging.getLogger(__name__)

PAGE = "dashboard.html"


def page_text() -> str:
    return resources.files("dojo.monitor").joinpath(PAGE).read_text(encoding="utf-8")


class Dashboard:
    """Holds the latest snapshot and the task that refreshes it."""

    def __init__(self, monitor: Monitor, refresh_s: float) -> None:
        self.monitor = monitor
        self.refresh_s = refresh_s
        self.latest: MonitorState | None = None
        self._template = page_text()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> MonitorState:
        self.latest = await self.monitor.snapshot()
        return self.latest

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:  # keep serving the last good snapshot; say why in the log
                log.exception("dashboard: snapshot failed")

    async def start(self, app: web.Application) -> None:
        await self.monitor.start()
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.monitor.stop()

    async def current(self) -> MonitorState:
        return self.latest if self.latest is not None else await self.refresh()

    async def index(self, request: web.Request) -> web.Response:
        state = await self.current()
        # "</" cannot appear inside a script element: escape it in the embedded JSON
        embedded = state.model_dump_json().replace("</", "<\\/")
        html = self._template.replace("__INITIAL_STATE__", embedded).replace(
            "__REFRESH_MS__", str(int(self.refresh_s * 1000))
        )
        return web.Response(text=html, content_type="text/html")

    async def state(self, request: web.Request) -> web.Response:
        state = await self.current()
        return web.Response(text=state.model_dump_json(), content_type="application/json")

    async def metrics(self, request: web.Request) -> web.Response:
        await self.current()
        body = exposition(lambda: self.latest)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "snapshot": self.latest is not None})


def make_app(monitor: Monitor, refresh_s: float = 2.0) -> web.Application:
    dashboard = Dashboard(monitor, refresh_s)
    app = web.Application()
    app.router.add_get("/", dashboard.index)
    app.router.add_get("/api/state", dashboard.state)
    app.router.add_get("/metrics", dashboard.metrics)
    app.router.add_get("/healthz", dashboard.health)
    app.on_startup.append(dashboard.start)
    app.on_cleanup.append(dashboard.stop)
    app["dashboard"] = dashboard
    return app


async def serve(
    monitor: Monitor,
    host: str,
    port: int,
    refresh_s: float,
    on_ready: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Serve until ``stop`` is set; ``on_ready(url)`` once listening (port 0: a free one)."""
    runner = web.AppRunner(make_app(monitor, refresh_s), access_log=None)
    await runner.setup()
    try:
        # bind first: with port 0 the system picks one, and the socket says which
        sock = socket.create_server((host, port), reuse_port=False)
        site = web.SockSite(runner, sock)
        await site.start()
        on_ready(f"http://{host}:{sock.getsockname()[1]}")
        await stop.wait()
    finally:
        await runner.cleanup()
