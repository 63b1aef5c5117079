"""``dojo replay``: stored decisions re-scored under another reward config or judge."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from dojo.cli.common import JsonOption, StoreOption, err, fail, load_settings, out


def _when(value: str | None, option: str) -> Any:
    """An ISO-8601 date or time from the command line; without a zone, UTC."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: expected an ISO-8601 date or time, got {value!r}", 2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def replay(
    store: StoreOption = None,
    reward_config: Annotated[
        Path | None,
        typer.Option(
            "--reward-config",
            exists=True,
            dir_okay=False,
            help="Reward config YAML to re-score with [env: DOJO_REWARD_CONFIG; default: the shipped one]",
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            help="offline or anthropic: whose verdicts feed the J components [env: DOJO_JUDGE]"
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Episodes started at or after (ISO-8601, UTC if no zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Episodes started before (ISO-8601).")] = None,
    stage: Annotated[
        int | None, typer.Option(min=1, max=4, help="Only this curriculum stage.")
    ] = None,
    episode_type: Annotated[
        str | None, typer.Option("--episode-type", help="Only this episode type (E-1.1 … E-4.3).")
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Also send each replayed episode as TrajectoryScored for the learner (needs the broker).",
        ),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(help="Reward version to compare with (default: the most stored other one)."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Ask the judge again where it failed before.")
    ] = False,
    top: Annotated[int, typer.Option(min=0, help="How many top-moving episodes to list.")] = 10,
    json_out: JsonOption = False,
) -> None:
    """Re-score stored decisions under a reward config (and judge), appending new reward rows.

    Nothing is overwritten: rewards of the new version are new rows, and rows that
    exist already (an earlier replay, or the live run under the same config) are
    left alone. Stored verdicts are reused; only due decisions without one are
    judged, through the verdict cache. When a live sink holds the store, the rows
    go through the broker for it to store; otherwise the replay writes them itself.
    Prints the per-behaviour means old vs new, the rank correlation of episode
    totals and the episodes that moved most.
    """
    from pydantic import ValidationError as InvalidFilter

    from dojo.broker.connection import BrokerNotConfigured
    from dojo.judge.factory import JudgeNotConfigured
    from dojo.replay import ReplayFilter, ReplayOptions, StoreBusy, run_replay
    from dojo.replay.show import BarProgress, render
    from dojo.store import StoreUnavailable

    settings = load_settings(store_path=store, judge=judge)
    try:
        options = ReplayOptions(
            reward_config=reward_config,
            judge=settings.judge.backend,
            filter=ReplayFilter(
                since=_when(since, "--since"),
                until=_when(until, "--until"),
                stage=stage,
                episode_type=episode_type,
            ),
            publish=publish,
            against=against,
            retry_failed=retry_failed,
            top=top,
        )
    except InvalidFilter as exc:
        raise fail(str(exc), 2) from None
    try:
        with BarProgress(err) as bars:
            report = asyncio.run(run_replay(settings, options, progress=bars))
    except (
        StoreUnavailable,
        StoreBusy,
        JudgeNotConfigured,
        BrokerNotConfigured,
        ValueError,
    ) as exc:
        raise fail(str(exc)) from None
    except TimeoutError as exc:
        raise fail(str(exc)) from None
    if json_out:
        print(report.model_dump_json())
    else:
        out.print(render(report))
