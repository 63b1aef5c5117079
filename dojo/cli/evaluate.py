"""Measuring the policy: the solo evaluation (``dojo eval``) and the curriculum."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from dojo.cli.common import JsonOption, StoreOption, err, fail, load_settings, metric_cell, out

eval_app = typer.Typer(
    help=(
        "Solo evaluation: a policy and four baselines over held-out solo tasks "
        "(elicitation, research, planning, execution, verification) with a simulated human."
    ),
    invoke_without_command=True,
)
curriculum_app = typer.Typer(help="The four-stage curriculum.", no_args_is_help=True)


def _eval_progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@eval_app.callback(invoke_without_command=True)
def eval_run(
    ctx: typer.Context,
    adapter: Annotated[
        str,
        typer.Option(
            help="Adapter to evaluate: 'latest' (the newest version the learner published "
            "for this base), a version (v000012, v000012-averaged), a folder, or 'none' "
            "(the base model)."
        ),
    ] = "latest",
    cadence: Annotated[
        str,
        typer.Option(
            help="quick (primary metrics), full (all metrics) or comprehensive "
            "(all metrics + transfer scores)."
        ),
    ] = "quick",
    model: Annotated[
        str | None,
        typer.Option(
            help="Base model preset, folder or hub id (default: DOJO_POLICY if it is a model, "
            "else DOJO_EVAL_BASE_MODEL)."
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Evaluate a scripted reference policy (random, junior, senior) instead of "
            "a model; the model baselines still run."
        ),
    ] = None,
    tasks: Annotated[
        int | None, typer.Option(min=1, help="Solo tasks to play (default: the cadence's count).")
    ] = None,
    stage: Annotated[
        int | None,
        typer.Option(min=1, max=4, help="Curriculum stage the report is filed under (DOJO_STAGE)."),
    ] = None,
    store: StoreOption = None,
    publish: Annotated[
        bool, typer.Option(help="Also publish the EvalReport to the evals topic.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Evaluate a policy on held-out solo tasks, with every baseline on the same tasks.

    Prints the SPEC §6 metrics of the policy and of the baselines (base model
    without adapter, prompt-only base model, scripted senior, random policy);
    comprehensive adds transfer scores (solo / team metric of the same policy
    version's training episodes in the store).
    """
    if ctx.invoked_subcommand is not None:
        return
    from dojo.eval import CADENCES, EvalError, Evaluator, scripted_subject, subject_for_cli
    from dojo.eval.metrics import METRICS
    from dojo.eval.report import cli_report_id, report_document, report_event
    from dojo.eval.transfer import team_metrics
    from dojo.events import Stamper
    from dojo.policy import ModelUnavailableError
    from dojo.store import StoreUnavailable, open_store

    if cadence not in CADENCES:
        raise fail(f"--cadence must be one of {', '.join(CADENCES)}, not {cadence!r}", 2)
    count_setting = f"eval_{cadence}_tasks"
    settings = load_settings(store_path=store, stage=stage, **{count_setting: tasks})
    try:
        with err.status("loading the model"):
            if policy is not None:
                subject = scripted_subject(policy, settings, model)
            else:
                subject = subject_for_cli(adapter, settings, model)
    except (EvalError, ModelUnavailableError, ValueError, KeyError) as exc:
        raise fail(str(exc), 2) from None
    team = None
    if cadence == "comprehensive":
        try:
            reader = open_store(settings.store.path)
        except StoreUnavailable as exc:
            err.print(f"[yellow]no transfer scores:[/yellow] {exc}")
        else:
            try:
                team = team_metrics(reader, subject.version, window=settings.eval.team_window)
            finally:
                reader.close()
    with _eval_progress() as bars:
        ids: dict[str, Any] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in ids:
                ids[label] = bars.add_task(label, total=total)
            bars.update(ids[label], completed=done)

        result = Evaluator(settings).evaluate(
            subject,
            cadence,
            stage=settings.stage,
            team=team,
            progress=progress,
        )
    report_id = cli_report_id(cadence, result.policy_version)
    if publish:
        from dojo.broker.connection import BrokerNotConfigured
        from dojo.workers.evaluator import publish_event

        event = report_event(result, report_id, Stamper("dojo-eval-cli"))
        try:
            asyncio.run(publish_event(settings, event))
        except BrokerNotConfigured as exc:
            raise fail(str(exc), 2) from None
    if json_out:
        print(json.dumps(report_document(result, report_id)))
        return
    table = Table(
        title=f"{cadence} evaluation of {result.policy_version}: {result.tasks} solo tasks, "
        f"{result.seconds:.0f}s"
    )
    columns = ["subject", *result.baselines]
    table.add_column("metric")
    table.add_column("target", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    if result.transfer:
        table.add_column("team", justify="right")
        table.add_column("transfer", justify="right")
    for name, value in result.metrics.items():
        info = METRICS[name]
        target = (
            ""
            if info.target is None
            else f"{'>' if info.direction == 'higher' else '<'} {info.target:g}"
        )
        row = [name, target, metric_cell(value)]
        row += [metric_cell(result.baselines[b].get(name)) for b in result.baselines]
        if result.transfer:
            row += [metric_cell(result.team.get(name)), metric_cell(result.transfer.get(name))]
        table.add_row(*row)
    out.print(table)
    out.print(
        "baselines: "
        + ", ".join(f"{name} = {version}" for name, version in result.baseline_versions.items())
    )


@eval_app.command("reports")
def eval_reports(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 10,
    store: StoreOption = None,
    json_out: JsonOption = False,
) -> None:
    """The evaluation reports in the store (from dojo up's evaluator or --publish)."""
    from dojo.eval.metrics import PRIMARY_NAMES
    from dojo.eval.report import stored_reports
    from dojo.store import StoreUnavailable, open_store

    settings = load_settings(store_path=store)
    try:
        reader = open_store(settings.store.path)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        reports = stored_reports(reader, limit)
    finally:
        reader.close()
    if json_out:
        print(json.dumps(reports))
        return
    table = Table(title=f"evaluation reports in {settings.store.path}")
    for column in ("report", "policy", "stage", "tasks"):
        table.add_column(column, justify="left" if column in ("report", "policy") else "right")
    # elicitation_quality -> elicitation, self_correction_rate -> self_correction
    for name in PRIMARY_NAMES:
        table.add_column(name.rsplit("_", 1)[0], justify="right")
    for r in reports:
        table.add_row(
            r["report_id"],
            r["policy_version"],
            str(r["stage"]),
            str(r["tasks"]),
            *(metric_cell(r["metrics"].get(name)) for name in PRIMARY_NAMES),
        )
    out.print(table)
    if not reports:
        out.print("no reports yet")


@curriculum_app.command("stages")
def curriculum_stages(json_out: JsonOption = False) -> None:
    """The four stages: environment, director actions, graduation criteria."""
    from dojo.curriculum import STAGES

    if json_out:
        print(
            json.dumps(
                {
                    n: {
                        "name": s.name,
                        "environment": s.environment,
                        "behaviours": s.behaviours,
                        "criteria": [c.describe() for c in s.criteria],
                        "director": s.director,
                    }
                    for n, s in STAGES.items()
                }
            )
        )
        return
    table = Table(title="curriculum")
    for column in ("stage", "environment", "director actions", "graduation"):
        table.add_column(column)
    for n, s in STAGES.items():
        table.add_row(
            f"{n} {s.name}",
            s.environment,
            ", ".join(f"{a}:{w:g}" for a, w in sorted(s.director.items())),
            "; ".join(c.describe() for c in s.criteria),
        )
    out.print(table)


@curriculum_app.command("status")
def curriculum_status(
    store: StoreOption = None,
    window: Annotated[int | None, typer.Option(min=1, help="[env: DOJO_CURRICULUM_WINDOW]")] = None,
    json_out: JsonOption = False,
) -> None:
    """The current stage and each graduation criterion, measured from the store."""
    from dojo.curriculum import curriculum_from_store
    from dojo.store import StoreUnavailable, open_store

    settings = load_settings(store_path=store, curriculum_window=window)
    try:
        reader = open_store(settings.store.path)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        curriculum = curriculum_from_store(
            reader, stage=settings.stage, window=settings.curriculum.window
        )
    finally:
        reader.close()
    status = curriculum.status()
    if json_out:
        print(
            json.dumps(
                {
                    **status.model_dump(mode="json"),
                    "episodes": curriculum.episodes,
                    "curriculum_complete": curriculum.complete,
                }
            )
        )
        return
    table = Table(
        title=f"stage {status.stage} ({status.name}): mean of the last {status.window} "
        f"measurements, {curriculum.episodes} training episodes"
    )
    for column in ("criterion", "value", "measurements", "met"):
        table.add_column(column, justify="left" if column == "criterion" else "right")
    for c in status.criteria:
        table.add_row(
            c.criterion, metric_cell(c.value), str(c.measurements), "yes" if c.met else "no"
        )
    out.print(table)


@curriculum_app.command("ablate")
def curriculum_ablate(
    candidate: Annotated[
        str, typer.Option(help="Policy trained and evaluated: random, junior or senior.")
    ] = "senior",
    episodes_per_stage: Annotated[
        int, typer.Option(min=1, help="Director episodes in each stage of an arm.")
    ] = 24,
    tasks: Annotated[int, typer.Option(min=1, help="Solo tasks of each arm's evaluation.")] = 10,
    window: Annotated[int | None, typer.Option(min=1, help="[env: DOJO_CURRICULUM_WINDOW]")] = None,
    seed: Annotated[int, typer.Option(help="Director and environment seed.")] = 0,
    json_out: JsonOption = False,
) -> None:
    """Ablations: stage 1 only, 1+2, 1+2+3, all — each arm's team metrics and solo metrics."""
    from dojo.curriculum import run_ablation
    from dojo.env.reference import REFERENCE_POLICIES
    from dojo.eval import ScriptedSoloPolicy, aggregate, run_solo, select_tasks

    if candidate not in REFERENCE_POLICIES:
        raise fail(f"--candidate must be one of {', '.join(REFERENCE_POLICIES)}", 2)
    settings = load_settings(curriculum_window=window)
    solo_tasks = select_tasks(tasks, settings.eval.bank_size)

    def evaluate(policy: Any) -> tuple[str, dict[str, float | None]]:
        solo = ScriptedSoloPolicy(policy)
        traces = run_solo(solo_tasks, solo, budget_factor=settings.eval.phase_budget)
        return solo.version, aggregate(traces)

    with err.status("running the ablation arms"):
        results = run_ablation(
            lambda: candidate,
            episodes_per_stage=episodes_per_stage,
            evaluate=evaluate,
            window=settings.curriculum.window,
            seed=seed,
        )
    if json_out:
        print(json.dumps([r.model_dump(mode="json") for r in results]))
        return
    from dojo.eval.metrics import PRIMARY_NAMES

    table = Table(title=f"curriculum ablation ({candidate}, {episodes_per_stage} episodes/stage)")
    table.add_column("metric")
    for r in results:
        table.add_column(r.arm, justify="right")
    table.add_row("episodes", *(str(r.episodes) for r in results))
    table.add_row("graduated", *(",".join(map(str, r.graduated)) or "—" for r in results))
    team_names = sorted({k for r in results for k in r.team})
    for name in team_names:
        table.add_row(f"team {name}", *(metric_cell(r.team.get(name)) for r in results))
    for name in PRIMARY_NAMES:
        table.add_row(f"solo {name}", *(metric_cell(r.solo.get(name)) for r in results))
    out.print(table)
