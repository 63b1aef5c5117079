"""The terminal dashboard: a :class:`~dojo.monitor.state.MonitorState` drawn with rich."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dojo.monitor.collect import metric
from dojo.monitor.source import Monitor
from dojo.monitor.state import MonitorState

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(
    values: Sequence[float | None], lo: float | None = None, hi: float | None = None
) -> str:
    """One character per value, its height the value's place in [lo, hi]; blank: no value."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
            continue
        level = 0.5 if span <= 0 else (min(max(v, lo), hi) - lo) / span
        out.append(_BLOCKS[round(level * (len(_BLOCKS) - 1))])
    return "".join(out)


def _num(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def _pipeline(state: MonitorState) -> Panel:
    p = state.pipeline
    lags = (
        "unknown (no broker)"
        if p.consumer_lag is None
        else ", ".join(f"{g} {n}" for g, n in sorted(p.consumer_lag.items())) or "no groups"
    )
    table = Table.grid(padding=(0, 2))
    table.add_row("events stored", f"{p.events_stored}", "per second", _num(p.events_per_s, ".1f"))
    table.add_row("episodes", f"{p.episodes_completed}", "dead letters", f"{p.dead_letters}")
    table.add_row("store lag", f"{_num(p.store_lag_s, '.2f')} s", "consumer lag", lags)
    return Panel(table, title="pipeline")


def _drift(state: MonitorState) -> Panel:
    d = state.drift
    table = Table(expand=True)
    for column in ("behaviour", "windows", "agreement", "", "residual", "", "alerts"):
        table.add_column(column, justify="right" if column in ("windows", "alerts") else "left")
    for s in d.series:
        agreement = [p.agreement for p in s.points]
        residual = [p.mean_residual for p in s.points]
        last = s.points[-1] if s.points else None
        table.add_row(
            s.behaviour,
            str(s.windows),
            _num(last.agreement if last else None, "+.2f"),
            Text(sparkline(agreement, -1.0, 1.0), style="cyan"),
            _num(last.mean_residual if last else None, "+.2f"),
            Text(sparkline(residual, -1.0, 1.0), style="magenta"),
            Text(str(s.alerts), style="bold red" if s.alerts else ""),
        )
    parts: list[RenderableType] = [table]
    if d.alerts:
        alerts = Table(title="latest alerts", expand=True)
        for column in ("at", "behaviour", "type", "check", "value", "threshold"):
            alerts.add_column(column)
        for a in d.alerts[:5]:
            alerts.add_row(
                a.produced_at.strftime("%H:%M:%S"),
                a.behaviour,
                a.episode_type,
                a.metric,
                _num(a.value),
                _num(a.threshold),
            )
        parts.append(alerts)
    live = " (following the drift topic)" if d.followed_live else ""
    title = f"reward drift: {d.windows_total} windows, {d.alerts_total} alerts{live}"
    if not d.series:
        parts = [Text("no drift windows yet", style="dim")]
    return Panel(Group(*parts), title=title)


def _learner(state: MonitorState) -> Panel:
    learner = state.learner
    if not learner.history and not learner.updates:
        return Panel(Text("no learner update or policy version yet", style="dim"), title="learner")
    # curves per update when the learner reports them, else per published version
    points = [u.metrics for u in learner.updates] or [p.metrics for p in learner.history]
    rewards = [metric(m, "reward_mean", "mean_reward", "reward") for m in points]
    kls = [metric(m, "kl_to_reference", "kl") for m in points]
    table = Table.grid(padding=(0, 2))
    latest = learner.latest
    table.add_row(
        "versions",
        str(learner.versions),
        "latest",
        f"{latest.policy_version} ({latest.updates} updates)" if latest else "—",
    )
    table.add_row("updates", str(learner.update_count), "", "")
    table.add_row("reward", _num(learner.reward), "", Text(sparkline(rewards), style="green"))
    table.add_row("KL", _num(learner.kl, ".4f"), "", Text(sparkline(kls), style="yellow"))
    table.add_row(
        "idle ratio", _num(learner.idle_ratio, ".2f"), "policy lag", _num(learner.policy_lag, ".1f")
    )
    return Panel(table, title="learner")


def _rewards(state: MonitorState) -> Panel:
    table = Table(expand=True)
    for column in ("reward version", "rows", "mean", "over time"):
        table.add_column(column)
    for r in state.rewards:
        table.add_row(
            r.reward_version,
            str(r.rows),
            _num(r.mean, ".4f"),
            Text(sparkline([p.mean for p in r.points]), style="green"),
        )
    if not state.rewards:
        return Panel(Text("no rewards yet", style="dim"), title="rewards per version")
    return Panel(table, title="rewards per version")


def _evaluation(state: MonitorState) -> Panel:
    if not state.evaluation:
        return Panel(Text("no evaluation report yet", style="dim"), title="latest evaluation")
    report = state.evaluation[0]
    table = Table(expand=True)
    table.add_column("metric")
    table.add_column(report.policy_version, justify="right")
    baselines = sorted(report.baselines)
    for name in baselines:
        table.add_column(name, justify="right")
    for name, value in sorted(report.metrics.items()):
        table.add_row(
            name,
            _num(value),
            *(_num(report.baselines[b].get(name)) for b in baselines),
        )
    title = (
        f"latest evaluation: {report.cadence}, stage {report.stage}, {report.tasks} tasks, "
        f"{report.produced_at:%H:%M:%S}"
    )
    return Panel(table, title=title)


def _judge(state: MonitorState) -> Panel:
    j = state.judge
    table = Table.grid(padding=(0, 2))
    table.add_row("verdicts", str(j.verdicts), "failures", str(j.failures))
    if j.calls is not None:
        table.add_row(
            "calls (live)", str(j.calls), "latency mean / max",
            f"{_num(j.latency_mean_s, '.3f')} / {_num(j.latency_max_s, '.3f')} s",
        )  # fmt: skip
        table.add_row("cache hits", str(j.cached), "flip rate", _num(j.flip_rate, ".3f"))
    if j.failures_by_type:
        table.add_row(
            "failure types", ", ".join(f"{k} {v}" for k, v in sorted(j.failures_by_type.items()))
        )
    if j.gap:
        table.add_row(
            "without the judge",
            f"{j.gap} decisions ({_num(j.gap_share, '.1%')})",
            "circuit open",
            str(j.circuit_open),
        )
    if j.breaker is not None:
        table.add_row("breaker", j.breaker, "times opened", str(j.breaker_opened))
    return Panel(table, title="judge")


def render(state: MonitorState) -> RenderableType:
    """The whole dashboard for one snapshot."""
    parts: list[RenderableType] = [
        Text(f"dojo monitor — {state.store} — {state.generated_at:%Y-%m-%d %H:%M:%S} UTC", style="bold"),
        _pipeline(state),
        _drift(state),
        _learner(state),
        _rewards(state),
        _judge(state),
        _evaluation(state),
    ]  # fmt: skip
    if state.problems:
        parts.append(Panel(Text("\n".join(state.problems), style="red"), title="problems"))
    return Group(*parts)


async def run_live(monitor: Monitor, console: Console, refresh_s: float) -> None:
    """Redraw every ``refresh_s`` seconds until cancelled (Ctrl-C)."""
    state = await monitor.snapshot()
    with Live(render(state), console=console, refresh_per_second=4, screen=False) as live:
        while True:
            await asyncio.sleep(refresh_s)
            state = await monitor.snapshot()
            live.update(render(state))
