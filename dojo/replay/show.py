"""A replay on the terminal: progress bars while it runs, the comparison when it is done."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from dojo.replay.run import ReplayReport


class BarProgress:
    """:class:`dojo.replay.run.Progress` as rich progress bars, one per stage."""

    def __init__(self, console: Console) -> None:
        self._bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<36}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._name = ""

    def __enter__(self) -> BarProgress:
        self._bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish()
        self._bars.stop()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[self._task]
            if task.total is None:
                self._bars.update(self._task, total=1, completed=1)
            else:
                self._bars.update(self._task, completed=task.total)

    def stage(self, name: str, total: int | None = None) -> None:
        if name == self._name and self._task is not None:
            self._bars.update(self._task, total=total)
            return
        self._finish()
        self._name = name
        self._task = self._bars.add_task(name, total=total)

    def update(self, completed: int) -> None:
        if self._task is not None:
            self._bars.update(self._task, completed=completed)


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(report: ReplayReport) -> RenderableType:
    """The summary, the per-behaviour comparison and the episodes that moved most."""
    summary = Table(title="dojo replay", show_header=False)
    summary.add_row("store", report.store)
    summary.add_row("reward version", report.reward_version)
    summary.add_row("judge version", report.judge_version)
    summary.add_row(
        "replayed",
        f"{report.episodes} episodes, {report.decisions} decisions"
        + (f" ({report.torn_episodes_skipped} torn episodes skipped)" if report.torn_episodes_skipped else ""),
    )  # fmt: skip
    judge = report.judge
    summary.add_row(
        "judge",
        f"{judge.due} due: {judge.answered_in_store} answered in the store, {judge.asked} asked "
        f"({judge.cached} from the verdict cache, {judge.verdicts} verdicts, "
        f"{judge.failures} failures)",
    )
    summary.add_row(
        "rewards",
        f"{report.rewards_new} new rows, {report.rewards_already_stored} already stored",
    )
    how = (
        "written to the store directly"
        if report.mode == "direct"
        else "published for the live sink, which stored them"
    )
    summary.add_row("appended", how)
    if report.published:
        summary.add_row(
            "published", ", ".join(f"{n} to {topic}" for topic, n in report.published.items())
        )
    if report.trajectories_untrainable:
        summary.add_row(
            "not published",
            f"{report.trajectories_untrainable} episodes without token ids (scripted policies)",
        )
    parts: list[RenderableType] = [summary]
    comparison = report.comparison
    if comparison is None:
        parts.append("no earlier reward version stored for these episodes: nothing to compare")
        return Group(*parts)
    shifts = Table(title=f"per-behaviour mean: {comparison.old_version} → {comparison.new_version}")
    for column in ("behaviour", "old", "new", "Δ", "decisions old/new"):
        shifts.add_column(column, justify="left" if column == "behaviour" else "right")
    for b in comparison.behaviours:
        shifts.add_row(
            b.behaviour, _num(b.old_mean), _num(b.new_mean), _num(b.delta), f"{b.old_n}/{b.new_n}"
        )
    shifts.add_row("scalar", _num(comparison.mean_old), _num(comparison.mean_new), "", "")
    parts.append(shifts)
    parts.append(
        f"Spearman rank correlation of episode totals (old vs new, "
        f"{comparison.episodes_compared} episodes): {_num(comparison.spearman_episode_totals)}"
    )
    if comparison.moved_most:
        movers = Table(title="episodes that moved most")
        for column in ("episode", "type", "old total", "new total", "Δ"):
            movers.add_column(column, justify="left" if column in ("episode", "type") else "right")
        for e in comparison.moved_most:
            movers.add_row(
                e.episode_id, e.episode_type, _num(e.old_total), _num(e.new_total), _num(e.delta)
            )
        parts.append(movers)
    return Group(*parts)
