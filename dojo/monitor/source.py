"""Where a snapshot comes from: the store, the broker (when one is configured) and the
running scoring workers (when any advertises itself).

The store is opened for each snapshot and closed at once: a reader that keeps
the file open would lock a sink out of starting (DuckDB lets no writer in while
another process has the file open).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from dojo.config import Settings
from dojo.events import DriftAlert, DriftWindow
from dojo.monitor.collect import WindowRow, collect
from dojo.monitor.kafka import BrokerWatch
from dojo.monitor.state import AlertRow, MonitorState
from dojo.store import StoreUnavailable, open_store
from streams.adverts import live_adverts

log = logging.getLogger(__name__)


def _live_rows(events: list[DriftWindow | DriftAlert]) -> tuple[list[WindowRow], list[AlertRow]]:
    windows, alerts = [], []
    for e in events:
        if isinstance(e, DriftWindow):
            windows.append(
                WindowRow(
                    event_id=str(e.event_id),
                    behaviour=e.behaviour,
                    episode_type=e.episode_type,
                    window_start=e.window_start,
                    window_end=e.window_end,
                    n=e.n,
                    agreement=e.agreement,
                    mean_residual=e.mean_residual,
                )
            )
        else:
            alerts.append(
                AlertRow(
                    produced_at=e.produced_at,
                    behaviour=e.behaviour,
                    episode_type=e.episode_type,
                    metric=e.metric,
                    value=e.value,
                    threshold=e.threshold,
                    message=e.message,
                )
            )
    return windows, alerts


class Monitor:
    """Takes snapshots of the running system (see the module docstring)."""

    def __init__(self, settings: Settings, *, broker: bool = True) -> None:
        if broker and settings.kafka.bootstrap is None:
            # a `dojo up` running beside us advertises its embedded broker
            embedded = live_adverts(settings, "broker")
            if embedded:
                bootstrap = embedded[0].url.removeprefix("kafka://")
                settings = settings.replace(kafka_bootstrap=bootstrap)
        self.settings = settings
        self.store = Path(settings.store.path)
        self._want_broker = broker and settings.kafka.bootstrap is not None
        self._watch: BrokerWatch | None = None
        self._broker_problem: str | None = None
        self._http = httpx.AsyncClient(timeout=2.0)

    async def __aenter__(self) -> Monitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._want_broker:
            watch = BrokerWatch(self.settings)
            try:
                await asyncio.wait_for(watch.start(), 15)
                self._watch = watch
            except Exception as exc:  # a dashboard without the broker still shows the store
                self._broker_problem = f"broker: {type(exc).__name__}: {exc}"[:300]
                await watch.stop()

    async def stop(self) -> None:
        if self._watch is not None:
            await self._watch.stop()
            self._watch = None
        await self._http.aclose()

    def _from_store(self, live: tuple[list[WindowRow], list[AlertRow]] | None) -> MonitorState:
        now = datetime.now(UTC)
        try:
            reader = open_store(self.store, self.settings.store.url)
        except StoreUnavailable as exc:
            state = MonitorState(generated_at=now, store=str(self.store))
            state.problems.append(f"store: {exc}")
            return state
        try:
            return collect(reader, str(self.store), now, live)
        finally:
            reader.close()

    async def snapshot(self) -> MonitorState:
        live = None
        lags: dict[str, int] | None = None
        problems: list[str] = [self._broker_problem] if self._broker_problem else []
        if self._watch is not None:
            try:
                await self._watch.poll_drift()
                live = _live_rows(list(self._watch.drift_events))
                lags = await self._watch.consumer_lag()
            except Exception as exc:
                problems.append(f"broker: {type(exc).__name__}: {exc}"[:300])
        state = await asyncio.to_thread(self._from_store, live)
        state.pipeline.consumer_lag = lags
        state.problems += problems
        await self._scoring_stats(state)
        return state

    async def _scoring_stats(self, state: MonitorState) -> None:
        """Judge latency, calls and cache hits from the live scoring workers, summed."""
        adverts = live_adverts(self.settings, "scoring")
        if not adverts:
            return
        judge = state.judge
        calls = cached = 0
        latency_sum = latency_max = spend = 0.0
        buckets: dict[str, int] = {}
        flips = doubled = 0.0
        answered = 0
        answered_stats: list[dict[str, Any]] = []
        for advert in adverts:
            try:
                response = await self._http.get(f"{advert.url}/scoring/stats")
                stats = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                state.problems.append(f"scoring worker {advert.pid}: {exc}"[:300])
                continue
            judging = stats.get("judging", {})
            answered += 1
            answered_stats.append(stats)
            calls += int(judging.get("calls", 0))
            cached += int(judging.get("cached", 0))
            latency_sum += float(judging.get("latency_sum_s", 0.0))
            latency_max = max(latency_max, float(judging.get("latency_max_s", 0.0)))
            for bound, count in judging.get("latency_buckets", {}).items():
                buckets[bound] = buckets.get(bound, 0) + int(count)
            spend += float(stats.get("judge_spend_usd", 0.0))
            if stats.get("flip_rate") is not None:
                flips += float(stats["flip_rate"]) * float(stats.get("double_judged", 0))
                doubled += float(stats.get("double_judged", 0))
        if not answered:
            return
        judge.calls = calls
        judge.cached = cached
        judge.latency_mean_s = latency_sum / calls if calls else None
        judge.latency_max_s = latency_max if calls else None
        judge.latency_buckets = buckets
        judge.latency_sum_s = latency_sum
        judge.spend_usd = spend
        judge.flip_rate = flips / doubled if doubled else None
        breakers = [s["breaker"] for s in answered_stats if s.get("breaker")]
        if breakers:
            worst = ("closed", "half_open", "open")
            judge.breaker = max((b["state"] for b in breakers), key=worst.index)
            judge.breaker_opened = sum(int(b["times_opened"]) for b in breakers)
