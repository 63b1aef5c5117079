"""Fault injection on the real system: every process type SIGKILLed during ``dojo up``.

    python -m bench.faults --json

Three runs of ``dojo up`` on the embedded broker, each in a fresh folder:

* baseline: the scripted senior policy, no faults;
* scripted: the same, while an environment worker, the sink, the scoring app and
  the embedded broker are killed one after another;
* learner: the tiny model with the learner, while the learner and then an
  environment worker (inside an episode) are killed.

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
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dojo.config import Settings
from dojo.faults.inject import FaultRun, Target, run_with_faults

SCRIPTED: list[Target] = ["env-worker", "sink", "scoring", "broker"]
LEARNER: list[Target] = ["learner", "env-worker"]


def settings_for(folder: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "store_path": folder / "store.duckdb",
        "data_dir": folder / "data",
        "env_workers": 2,
        "env_ledger": True,
        "env_max_held": 4,
        "consumer_session_timeout_s": 6.0,
        "consumer_heartbeat_interval_s": 0.5,
        "restart_backoff_s": 0.5,
        "eval_quick_every": 0,
        "eval_full_every": 0,
        "curriculum_auto": False,
        "dashboard": False,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def one_run(
    name: str, targets: list[Target], episodes: int, every: int, **overrides: object
) -> tuple[FaultRun, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-faults-{name}-") as tmp:
        settings = settings_for(Path(tmp), **overrides)
        started = time.monotonic()
        run = asyncio.run(
            run_with_faults(settings, targets, episodes=episodes, every=every, mid_episode=True)
        )
        return run, time.monotonic() - started


def report(runs: dict[str, tuple[FaultRun, float]]) -> dict[str, Any]:
    faulted = {k: v for k, v in runs.items() if k != "baseline"}
    injected = [
        {"run": name, **fault.model_dump(exclude={"pid"})}
        for name, (run, _) in faulted.items()
        for fault in run.faults
    ]
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
        "fault_types": sorted({f["target"] for f in injected}),
        "faults_injected": injected,
        "events_published": sum(r.accounts.events_published for r, _ in faulted.values()),
        "events_stored": sum(r.accounts.events_stored for r, _ in faulted.values()),
        "lost": sum(r.accounts.lost for r, _ in faulted.values()),
        "duplicated": sum(r.accounts.duplicated for r, _ in faulted.values()),
        "episodes_incomplete": sum(r.accounts.episodes_incomplete for r, _ in faulted.values()),
        "all_ok": all(r.summary.status == "ok" for r, _ in runs.values()),
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
    parser.add_argument("--episodes", type=int, default=60, help="scripted runs' episodes")
    parser.add_argument("--every", type=int, default=8, help="completed episodes between faults")
    parser.add_argument("--learner-episodes", type=int, default=16)
    parser.add_argument("--no-learner", action="store_true", help="skip the learner run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    console = Console(stderr=True)
    runs: dict[str, tuple[FaultRun, float]] = {}
    plan: list[tuple[str, list[Target], int, int, dict[str, object]]] = [
        ("baseline", [], args.episodes, args.every, {"policy": "senior"}),
        ("scripted", SCRIPTED, args.episodes, args.every, {"policy": "senior"}),
    ]
    if not args.no_learner:
        learner = {"policy": "tiny", "learner_batch_size": 4, "scoring_episode_ttl_s": 10.0}
        plan.append(("learner", LEARNER, args.learner_episodes, 4, learner))
    for name, targets, episodes, every, overrides in plan:
        with console.status(
            f"{name}: dojo up, {episodes} episodes, killing {targets or 'nothing'}"
        ):
            runs[name] = one_run(name, targets, episodes, every, **overrides)
    result = report(runs)
    if args.json:
        print(json.dumps(result))
    else:
        show(result, Console())


if __name__ == "__main__":
    main()
