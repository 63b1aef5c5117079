"""What Dojo keeps and how it is set up: the episode store, the Kafka topics, the
event schemas, and the configuration in effect."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dojo.cli.common import JsonOption, StoreOption, err, fail, load_settings, out

store_app = typer.Typer(help="Inspect the DuckDB episode store.", no_args_is_help=True)
topics_app = typer.Typer(
    help="Dojo's Kafka topics (one table: dojo/topics.py).", no_args_is_help=True
)
schemas_app = typer.Typer(help="Event JSON Schemas in schemas/.", no_args_is_help=True)


@store_app.command("stats")
def store_stats(store: StoreOption = None, json_out: JsonOption = False) -> None:
    """Counts per table, distinct event ids, orphan rows, torn episodes."""
    from dojo.store import StoreUnavailable, open_store
    from dojo.store import store_stats as compute

    settings = load_settings(store_path=store)
    try:
        reader = open_store(settings.store.path)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        stats = compute(reader)
    finally:
        reader.close()
    if json_out:
        print(stats.model_dump_json())
        return
    table = Table(title=f"store {settings.store.path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("distinct event ids", justify="right")
    for name, count in stats.tables.items():
        distinct = "" if count.distinct_event_ids is None else str(count.distinct_event_ids)
        table.add_row(name, str(count.rows), distinct)
    out.print(table)
    out.print(
        f"episodes completed {stats.episodes_completed}, incomplete {stats.episodes_incomplete}"
    )
    out.print("orphans: " + ", ".join(f"{k}={v}" for k, v in stats.orphans.items()))


@topics_app.command("list")
def topics_list(json_out: JsonOption = False) -> None:
    """The topic table: names (with DOJO_TOPIC_PREFIX), partitions, keys, retention, events."""
    from dojo.topics import TOPICS

    prefix = load_settings().topic_prefix
    rows = [
        {
            "name": spec.name(prefix),
            "partitions": spec.partitions,
            "key": spec.key,
            "retention_days": spec.retention_ms / 86_400_000,
            "events": list(spec.events),
        }
        for spec in TOPICS.values()
    ]
    if json_out:
        print(json.dumps(rows))
        return
    table = Table(title="topics")
    for column in ("name", "partitions", "key", "retention (days)", "events"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["partitions"]),
            str(row["key"] or "—"),
            f"{row['retention_days']:g}",
            ", ".join(row["events"]),  # type: ignore[arg-type]
        )
    out.print(table)


@topics_app.command("create")
def topics_create(
    replication_factor: Annotated[
        int, typer.Option(min=1, help="Replicas of each new topic (existing ones are kept).")
    ] = 1,
) -> None:
    """Create every missing topic on DOJO_KAFKA_BOOTSTRAP; check the partitions of existing ones."""
    from dojo.broker.admin import TopicMismatch, ensure_topics
    from dojo.broker.connection import BrokerNotConfigured

    settings = load_settings()
    try:
        counts = asyncio.run(ensure_topics(settings, replication_factor=replication_factor))
    except (BrokerNotConfigured, TopicMismatch) as exc:
        raise fail(str(exc), 2) from None
    for name, partitions in counts.items():
        out.print(f"{name}: {partitions} partitions")


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path | None, typer.Option("--dir", help="Default: schemas/")] = None,
) -> None:
    """Write the current version's JSON Schema (and golden sample, if new) of every event."""
    from dojo.events import schemas

    written = schemas.export(directory or schemas.SCHEMA_DIR)
    for path in written:
        out.print(f"wrote {path}")
    if not written:
        out.print("schemas/ is up to date")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="Default: schemas/")] = None,
) -> None:
    """Fail if the event models and schemas/ disagree."""
    from dojo.events import schemas

    problems = schemas.check(directory or schemas.SCHEMA_DIR)
    for problem in problems:
        err.print(f"{problem.path}: {problem.problem}")
    if problems:
        raise fail(
            "schemas/ is out of date: run `dojo schemas export` (new versions need upcasters)"
        )


def config_show(
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Print the table of every variable (as in docs/configuration.md)."
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show the configuration in effect: every DOJO_* variable and its value (secrets masked)."""
    from dojo.config_table import effective, markdown_table, setting_rows

    if markdown:
        print(markdown_table())
        return
    values = effective(load_settings())
    if json_out:
        print(json.dumps(values))
        return
    table = Table(title="configuration in effect")
    table.add_column("variable")
    table.add_column("value")
    table.add_column("meaning")
    for row in setting_rows():
        table.add_row(row.variables[0], values[row.variables[0]], row.description)
    out.print(table)
