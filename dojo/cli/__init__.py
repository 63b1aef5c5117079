"""The ``dojo`` command: a thin layer over library functions.

Every option that is also a setting overrides its ``DOJO_*`` variable for this
run only. One module per group of commands:

- :mod:`dojo.cli.run`: up, broker, streams worker, env-worker, learner, evaluator
- :mod:`dojo.cli.monitor`: monitor, dashboard
- :mod:`dojo.cli.simulate`: simulate
- :mod:`dojo.cli.store`: store, topics, schemas, config
- :mod:`dojo.cli.evaluate`: eval, curriculum
- :mod:`dojo.cli.replay`: replay
- :mod:`dojo.cli.deploy`: serve, chat, export

:mod:`dojo.cli.common` holds what they share (settings with the options on top,
the error exit, the consoles, option types). Each command imports what it runs
inside its body, so ``dojo --help`` loads neither torch nor the broker client.
"""

from __future__ import annotations

import sys

import typer

from dojo.cli import deploy, evaluate, monitor, replay, run, simulate, store
from dojo.cli.common import (
    JsonOption,
    ModelOption,
    StoreOption,
    err,
    fail,
    load_settings,
    out,
)

app = typer.Typer(
    help="Dojo: trains a local LLM in senior-engineer behaviour inside a simulated agile team.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The order here is the order `dojo --help` lists them in.
app.command("up")(run.up)
app.command("broker")(run.broker)
app.command("env-worker")(run.env_worker)
app.command("learner")(run.learner)
app.command("simulate")(simulate.simulate)
app.command("config")(store.config_show)
app.command("evaluator")(run.evaluator_service)
app.command("replay")(replay.replay)
app.command("monitor")(monitor.monitor)
app.command("dashboard")(monitor.dashboard)
app.command("serve")(deploy.serve)
app.command("chat")(deploy.chat)
app.command("export")(deploy.export)

app.add_typer(store.store_app, name="store")
app.add_typer(run.streams_app, name="streams")
app.add_typer(store.schemas_app, name="schemas")
app.add_typer(store.topics_app, name="topics")
app.add_typer(evaluate.eval_app, name="eval")
app.add_typer(evaluate.curriculum_app, name="curriculum")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = [
    "JsonOption",
    "ModelOption",
    "StoreOption",
    "app",
    "err",
    "fail",
    "load_settings",
    "main",
    "out",
]
