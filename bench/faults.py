"""Fault injection on the real system: every process type SIGKILLed during ``dojo up``.

    python -m bench.faults --json

Three runs of ``dojo up`` on the embedded broker, each in a fresh folder:

* baseline: the scripted senior policy, no faults;
* scripted: the same, while an environment worker, the sink, the scoring app and
  the embedded broker are killed one after another;
* learner: the tiny model with the learner, while the learner, the embedded
  broker and then an environment worker (frozen inside an episode) are killed.

It exits 1 unless every planned fault was injected and recovered from with 0
lost and 0 duplicated.

For each: every event id the environment workers had acknowledged (their
ledgers) is looked up in the store — lost is what is missing — and what must
exist once is counted — duplicated is every extra stored row, reward per
decision, scored trajectory per episode and trained trajectory. ``ratio`` is the
scripted run's episodes per second over the baseline's: what the faults cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dojo.faults.inject import FaultRun, Target, fault_settings, run_with_faults

SCRIPTED: list[Target] = ["env-worker", "sink", "scoring", "broker"]
LEARNER: list[Target] = ["learner", "broker", "env-worker"]


def one_run(
    name: str,
    targets: list[Target],
    episodes: int,
    every: int,
    mid_episode: bool,
    **overrides: object,
) -> tuple[FaultRun, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-faults-{name}-") as tmp:
        settings = fault_settings(Path(tmp), **overrides)
        started = time.monotonic()
        run = asyncio.run(
            run_with_faults(
                settings, targets, episodes=episodes, every=every, mid_episode=mid_episode
            )
        )
        return run, time.monotonic() - started


def report(runs: dict[str, tuple[FaultRun, float]], planned: list[Target]) -> dict[str, Any]:
    faulted = {k: v for k, v in runs.items() if k != "baseline"}
    injected = [
        {"run": name, **fault.model_dump(exclude={"pid"})}
        for name, (run, _) in faulted.items()
        for fault in run.faults
    ]
    types = sorted({f["target"] for f in injected})
    lost = sum(r.accounts.lost for r, _ in faulted.values())
    duplicated = sum(r.accounts.duplicated for r, _ in faulted.values())
    all_ok = all(r.summary.status == "ok" for r, _ in runs.values())
    unrecovered = [f["process"] for f in injected if f["recovered_after_s"] is None]
    not_injected = sorted(set(planned) - set(types))
    per_run = {
        name: {
            "status": run.summary.status,
            "errors": run.summary.errors,
            "seconds": round(seconds, 1),
            "episodes_per_s": run.summary.episodes_per_s,
            "restarts": run.summary.restarts,
            **run.accounts.model_dump(exclude={"lost_ids", "incomplete_sources"}),
        }
        for name, (run, seconds) in runs.items()
    }
    baseline = runs["baseline"][0].summary.episodes_per_s if "baseline" in runs else None
    scripted = runs["scripted"][0].summary.episodes_per_s if "scripted" in runs else None
    return {
        "fault_types": types,
        # every planned fault was injected and recovered from, nothing lost or doubled
        "passed": all_ok and not not_injected and not unrecovered and lost == 0 and duplicated == 0,
        "not_injected": not_injected,
        "not_recovered": unrecovered,
        "faults_injected": injected,
        "events_published": sum(r.accounts.events_published for r, _ in faulted.values()),
        "events_stored": sum(r.accounts.events_stored for r, _ in faulted.values()),
        "lost": lost,
        "duplicated": duplicated,
        "episodes_incomplete": sum(r.accounts.episodes_incomplete for r, _ in faulted.values()),
        "all_ok": all_ok,
        "ratio": round(scripted / baseline, 3) if baseline and scripted else None,
        "ratio_meaning": "scripted run's episodes/s with faults ÷ the baseline's without",
        "runs": per_run,
    }


def show(result: dict[str, Any], console: Console) -> None:
    table = Table(title="faults injected during dojo up")
    for column in ("run", "target", "process", "at s", "recovered after s"):
        table.add_column(column)
    for f in result["faults_injected"]:
        table.add_row(
            f["run"], f["target"], f["process"], f"{f['at_s']:.1f}", str(f["recovered_after_s"])
        )
    console.print(table)
    totals = Table(title="every event id accounted for", show_header=False)
    for key in ("events_published", "events_stored", "lost", "duplicated", "episodes_incomplete"):
        totals.add_row(key, str(result[key]))
    totals.add_row("throughput with faults / without", str(result["ratio"]))
    console.print(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--episodes", type=int, default=60, help="scripted runs' episodes (at least)"
    )
    parser.add_argument("--every", type=int, default=8, help="completed episodes between faults")
    parser.add_argument("--learner-episodes", type=int, default=48, help="at least")
    parser.add_argument("--learner-every", type=int, default=5)
    parser.add_argument("--no-learner", action="store_true", help="skip the learner run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    console = Console(stderr=True)
    runs: dict[str, tuple[FaultRun, float]] = {}
    # scripted episodes finish faster than a worker can be caught inside one: their
    # workers are killed between episodes; the model's are frozen inside one first
    plan: list[tuple[str, list[Target], int, int, bool, dict[str, object]]] = [
        ("baseline", [], args.episodes, args.every, False, {"policy": "senior"}),
        ("scripted", SCRIPTED, args.episodes, args.every, False, {"policy": "senior"}),
    ]
    if not args.no_learner:
        learner = {"policy": "tiny", "learner_batch_size": 4, "scoring_episode_ttl_s": 10.0}
        plan.append(("learner", LEARNER, args.learner_episodes, args.learner_every, True, learner))
    for name, targets, episodes, every, mid_episode, overrides in plan:
        with console.status(
            f"{name}: dojo up, {episodes} episodes, killing {targets or 'nothing'}"
        ):
            runs[name] = one_run(name, targets, episodes, every, mid_episode, **overrides)
    planned = [t for _, targets, *_ in plan for t in targets]
    result = report(runs, planned)
    if args.json:
        print(json.dumps(result))
    else:
        show(result, Console())
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
