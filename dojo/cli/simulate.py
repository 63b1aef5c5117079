"""``dojo simulate``: one episode of the simulated team, played and shown."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dojo.cli.common import JsonOption, fail, out


def simulate(
    episode_type: Annotated[str, typer.Argument(help="E-1.1 … E-4.3 (SPEC §4)")],
    seed: Annotated[int, typer.Option(min=0, help="Scenario seed.")] = 0,
    difficulty: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.5,
    policy: Annotated[
        str, typer.Option(help="random, junior, senior, or human (you type each move)")
    ] = "senior",
    prompts: Annotated[bool, typer.Option("--prompts", help="Print every observation.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Play one episode of the simulated team and show what each decision caused."""
    from dojo.env import EpisodeSpec, registry
    from dojo.env.protocol import Observation
    from dojo.env.reference import REFERENCE_POLICIES, make_reference_policy
    from dojo.env.rollout import Policy, play
    from dojo.env.scorer import score_trace

    record = registry.find(episode_type)
    if record is None:
        known = ", ".join(registry.codes())
        raise fail(f"unknown episode type {episode_type!r}; known: {known}", 2)
    if policy not in (*REFERENCE_POLICIES, "human"):
        raise fail(f"unknown policy {policy!r}: random, junior, senior or human", 2)

    class Shown:
        """Prints each observation before the wrapped policy answers it."""

        def __init__(self, inner: Policy | None) -> None:
            self.inner = inner

        def decide(self, observation: Observation) -> str:
            if self.inner is None or prompts:
                out.print(observation.text, markup=False, highlight=False)
            if self.inner is None:
                return str(typer.prompt("move", default="", show_default=False))
            return self.inner.decide(observation)

    spec = EpisodeSpec(
        episode_type=episode_type, seed=seed, difficulty=difficulty, stage=record.stage
    )
    inner = None if policy == "human" else make_reference_policy(policy, seed)
    if json_out and (inner is None or prompts):
        raise fail(
            "--json prints only the trace: use it with a scripted policy, without --prompts", 2
        )
    trace = play(spec, inner if inner is not None and not prompts else Shown(inner))
    if json_out:
        print(trace.model_dump_json())
        return
    table = Table(title=f"{episode_type} seed {seed}, difficulty {difficulty}, {policy}")
    for column in ("#", "move", "consequences", "transition"):
        table.add_column(column)
    for i, (completion, step) in enumerate(zip(trace.completions, trace.steps, strict=True)):
        said = "\n".join(f"{c.kind}: {c.description}" for c in step.consequences)
        moved: str = step.transition or ""
        if step.transition_correct is not None:
            moved += " (right)" if step.transition_correct else " (wrong)"
        table.add_row(str(i + 1), completion.splitlines()[0] if completion else "", said, moved)
    out.print(table)
    outcome = trace.outcome
    out.print(
        f"outcome: {outcome.status}, {outcome.decisions} decisions "
        f"(baseline {outcome.baseline_actions})"
    )
    out.print("  " + ", ".join(f"{k} {v:.2f}" for k, v in outcome.signals.items()))
    if outcome.behaviour_metrics:
        proxies = outcome.behaviour_metrics.items()
        out.print("  proxies: " + ", ".join(f"{k} {v:.2f}" for k, v in proxies))
    scores = score_trace(trace.steps).scores
    if scores:
        out.print("  behaviours seen: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
