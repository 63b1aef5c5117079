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
from dojo.monitor.state import MonitorState, ProgressPoint, ProgressSeries

_BLOCKS = "▁▂▃▄▅▆▇█"
#: reports in a progress sparkline; characters naming the latest reports under it
TREND_POINTS = 24
NAMED_WIDTH = 76


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


def _report_name(point: ProgressPoint) -> str:
    mark = f"@{point.episodes}" if point.episodes is not None else ""
    return f"{point.policy_version} {point.cadence}{mark}"


def _versus_base(series: ProgressSeries, last: ProgressPoint) -> Text:
    """The subject minus the base model in the latest report: an arrow up or down, green
    where that is better (the metric's direction), red where worse."""
    base = last.baselines.get("base_model")
    if last.value is None or base is None:
        return Text("—")
    delta = last.value - base
    if delta == 0:
        return Text("= 0.00")
    better = (delta > 0) == (series.direction == "higher")
    arrow = "▲" if delta > 0 else "▼"
    return Text(f"{arrow} {delta:+.2f}", style="green" if better else "red")


def _progress(state: MonitorState) -> Panel:
    """Each primary metric over policy versions: the subject's trend, its latest value
    beside the base model's and the scripted senior's, and the gap to the base model."""
    view = state.progress
    reports = view.series[0].points if view.series else []
    if not reports:
        return Panel(Text("no evaluation report yet", style="dim"), title="progress")
    shown = reports[-TREND_POINTS:]
    table = Table(box=None, padding=(0, 1), expand=False)
    table.add_column("metric")
    table.add_column("target")
    table.add_column(f"{shown[0].policy_version} → {shown[-1].policy_version}")
    table.add_column("latest", justify="right")
    table.add_column("base", justify="right")
    table.add_column("senior", justify="right")
    table.add_column("vs base", justify="right")
    for series in view.series:
        values = [p.value for p in series.points[-TREND_POINTS:]]
        present = [v for v in values if v is not None]
        last = series.points[-1]
        target = (
            "" if series.target is None
            else f"{'>' if series.direction == 'higher' else '<'} {series.target:.2f}"
        )  # fmt: skip
        met = series.target is not None and last.value is not None and (
            last.value > series.target if series.direction == "higher"
            else last.value < series.target
        )  # fmt: skip
        table.add_row(
            series.metric,
            target,
            Text(sparkline(values, 0.0, max([1.0, *present])), style="green"),
            Text(_num(last.value, ".2f"), style="bold green" if met else ""),
            _num(last.baselines.get("base_model"), ".2f"),
            _num(last.baselines.get("scripted_senior"), ".2f"),
            _versus_base(series, last),
        )
    names: list[str] = []
    for point in reversed(reports):  # the latest reports that fit on one line
        if names and len(" · ".join([_report_name(point), *names])) > NAMED_WIDTH:
            break
        names.insert(0, _report_name(point))
    latest = " · ".join(names)
    title = (
        f"progress over policy versions: {len(reports)} of {view.reports} reports, "
        f"latest {reports[-1].policy_version}"
    )
    return Panel(Group(table, Text(f"latest reports: {latest}", style="dim")), title=title)


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
        _progress(state),
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
