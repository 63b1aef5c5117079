"""Solo evaluation speed: lockstep batching of a model's decisions against one task at a time.

    python -m bench.eval_solo --tasks 6 --json

Measured in the same run, on the same held-out tasks with the same seeds (so
the same decisions are made):

* ``one_at_a_time`` (the baseline) — the tiny model plays each task alone: one
  generation per decision;
* ``lockstep`` — all tasks advance together, every live task's decision decoded
  in one batch (:func:`dojo.eval.run_solo`, as evaluations run);
* ``scripted_senior`` — the scripted senior over the same tasks: the
  simulator's and the metrics' own cost, with no model at all.

Prints decisions per second of each and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from dojo.config import Settings
from dojo.eval import (
    LMSoloPolicy,
    ScriptedSoloPolicy,
    SoloPolicy,
    aggregate,
    run_solo,
    select_tasks,
)
from dojo.eval.harness import load_lm
from dojo.eval.solo import SoloTrace
from dojo.eval.tasks import SoloTask


def timed(
    tasks: tuple[SoloTask, ...], policy: SoloPolicy, alone: bool
) -> tuple[float, list[SoloTrace]]:
    started = time.perf_counter()
    traces = [run_solo((t,), policy)[0] for t in tasks] if alone else run_solo(tasks, policy)
    return time.perf_counter() - started, traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--data-dir", type=Path, default=None, help="where the tiny base lives")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dojo-bench-"))
    settings = Settings(data_dir=data_dir, eval_max_text_tokens=8)
    lm = load_lm("tiny", None, settings)
    tasks = select_tasks(args.tasks)
    model = LMSoloPolicy(lm, version="tiny-base")
    rows = {}
    for name, policy, alone in (
        ("one_at_a_time", model, True),
        ("lockstep", model, False),
        ("scripted_senior", ScriptedSoloPolicy("senior"), False),
    ):
        seconds, traces = timed(tasks, policy, alone)
        decisions = sum(t.actions for t in traces)
        rows[name] = {
            "seconds": round(seconds, 3),
            "decisions": decisions,
            "decisions_per_s": round(decisions / seconds, 1),
            "intent_match": aggregate(traces, secondary=False)["intent_match"],
        }
    base = rows["one_at_a_time"]["decisions_per_s"]
    for row in rows.values():
        row["ratio"] = round(row["decisions_per_s"] / base, 2)  # type: ignore[operator]
    # the same seeds must give the same play, batched or not
    same = rows["lockstep"]["decisions"] == rows["one_at_a_time"]["decisions"]
    result = {"tasks": len(tasks), "same_decisions": same, "baseline": "one_at_a_time", **rows}
    if args.json:
        print(json.dumps(result))
        return
    for name, row in rows.items():
        print(
            f"{name:>16}: {row['decisions']:5d} decisions in {row['seconds']:7.2f}s = "
            f"{row['decisions_per_s']:8.1f}/s  x{row['ratio']}"
        )
    print(f"same decisions batched and alone: {same}")


if __name__ == "__main__":
    main()
