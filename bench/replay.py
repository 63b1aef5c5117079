"""Replay re-scoring throughput: vectorised (Arrow/numpy/DuckDB) against row-by-row Python.

    python -m bench.replay --decisions 1000000 --json

History: a few hundred real episodes of every type (the scripted senior,
junior and random policies, so the signals, transitions and outcomes are the
simulator's own) are stored through the store's real projection, with the
offline judge's verdict on every due decision, as the live scoring app would
have stored them. They are then replicated inside DuckDB (fresh episode and
decision ids, prompts emptied: re-scoring never reads them) until the store
holds ``--decisions`` decisions.

Measured in the same run, from the same store:

* load: the replay's own queries, from the store file to Arrow (shared by both
  methods below: the baseline is given the same bulk load for free);
* vectorised: :func:`dojo.replay.rescore.rescore` over every decision, batch by batch;
* baseline: the same reward function, :func:`dojo.reward.reward_decision`, called
  once per decision in a Python loop over the loaded rows (JSON decoded per row),
  on whole episodes of a sample of ``--baseline-sample`` decisions, and
  extrapolated linearly to all decisions (the output says so);
* agreement: on the sample, the largest difference between the two methods'
  scalars and vector entries (they compute the same function).

``ratio`` is the re-scoring throughput (vectorised / baseline);
``ratio_with_load`` adds the shared load time to both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc

from dojo.env import registry
from dojo.env.moves import Move
from dojo.env.protocol import EPISODE_TYPES, EpisodeOutcome, EpisodeSpec
from dojo.events import AnyEvent, DecisionMade, EpisodeStarted, JudgeVerdict, Stamper, encode
from dojo.judge import OfflineJudge, SamplingConfig, Verdict, version_of
from dojo.judge.selection import is_due, judge_request
from dojo.replay.history import ReplayFilter, load_history
from dojo.replay.rescore import RewardTables, batches, rescore
from dojo.reward import DecisionRecord, RewardConfig, load_reward_config, reward_decision
from dojo.store import Received, StoreWriter, open_store
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout

RATIO_TARGET = 20.0
POLICIES = ("senior", "junior", "random")


def judged_events(events: list[AnyEvent], judge: OfflineJudge, stamper: Stamper) -> list[AnyEvent]:
    """The offline judge's verdict on every due decision of one episode, as the judging agent
    publishes them (id from decision and judge version)."""
    started = events[0]
    assert isinstance(started, EpisodeStarted)
    spec = started.spec
    version = version_of(judge)
    out: list[AnyEvent] = []
    history: list[Move] = []

    async def grade(decisions: list[DecisionMade]) -> None:
        for decision in decisions:
            if is_due(decision.decision_id, decision.episode_id, decision.signals, judge.sampling):
                result = await judge.judge(judge_request(decision, spec, history))
                if isinstance(result, Verdict):
                    out.append(
                        stamper.make(
                            JudgeVerdict,
                            (decision.decision_id, version),
                            episode_id=decision.episode_id,
                            decision_id=decision.decision_id,
                            judge_version=version,
                            judge_model=result.judge_model,
                            rubric_version=result.rubric_version,
                            content_hash=result.content_hash,
                            scores=result.scores,
                        )
                    )
            history.append(decision.move)

    asyncio.run(grade([e for e in events if isinstance(e, DecisionMade)]))
    return out


def write_history(
    path: Path,
    episodes: int,
    *,
    judge: bool = True,
    first_seed: int = 0,
    prefix: str = "ep",
) -> int:
    """Store ``episodes`` real episodes (all 13 types, three scripted policies) at ``path``,
    through the store's projection; with ``judge``, the offline judge's verdicts too.
    Returns the number of events stored."""
    stamper = Stamper("bench-env")
    offline = OfflineJudge(SamplingConfig())
    received: list[Received] = []
    for i in range(episodes):
        episode_type = EPISODE_TYPES[i % len(EPISODE_TYPES)]
        seed = first_seed + i
        spec = EpisodeSpec(
            episode_type=episode_type, seed=seed, stage=registry.get(episode_type).stage
        )
        actor = ReferenceActor(POLICIES[i % len(POLICIES)], seed)
        events: list[AnyEvent] = list(rollout(spec, f"{prefix}{seed:06d}", actor, stamper))
        if judge:
            events += judged_events(events, offline, stamper)
        received += [Received(e, encode(e), "bench.episodes", 0, k) for k, e in enumerate(events)]
    writer = StoreWriter(path)
    try:
        writer.write(received)
    finally:
        writer.close()
    return len(received)


def replicate(path: Path, decisions: int) -> int:
    """Copy the stored episodes (new ids) until the store holds about ``decisions`` decisions."""
    conn = duckdb.connect(str(path))
    try:
        have = conn.sql("SELECT count(*) FROM decisions").fetchall()[0][0]
        copies = max(1, -(-decisions // max(1, have)))
        conn.execute("CREATE TEMP TABLE copies AS SELECT i FROM range(1, ?) r(i)", [copies])
        new_episode = "x.episode_id || '.' || c.i"
        new_decision = f"{new_episode} || substr(x.decision_id, length(x.episode_id) + 1)"
        conn.execute(
            f"""INSERT INTO decisions SELECT uuid(), {new_decision}, {new_episode}, step, phase,
                policy_version, produced_at, '', [], completion_text, [], [], NULL, move_name,
                move_args, move_text, move_valid, move_error, consequences, signals, transition,
                transition_correct, generation_ms
            FROM decisions x, copies c"""
        )
        completed = f"md5({new_episode} || '/completed')::UUID"
        conn.execute(
            f"""INSERT INTO events SELECT {completed}, type, schema_version, produced_at, source,
                {new_episode}, topic, "partition", "offset", stored_at,
                json_merge_patch(payload, json_object('episode_id', {new_episode}))
            FROM events x, copies c WHERE type = 'EpisodeCompleted'"""
        )
        conn.execute(
            f"""INSERT INTO episodes SELECT {new_episode}, episode_type, stage, seed, difficulty,
                policy_version, source, scenario, NULL, started_at, {completed}, completed_at,
                status, decision_count, event_count, outcome, behaviour_metrics
            FROM episodes x, copies c"""
        )
        conn.execute(
            f"""INSERT INTO verdicts SELECT uuid(), {new_decision}, {new_episode}, status,
                judge_version, judge_model, rubric_version, content_hash, scores, rationale,
                swapped, cached, reason, error_type, attempts, produced_at
            FROM verdicts x, copies c"""
        )
        conn.execute("CHECKPOINT")
        return int(conn.sql("SELECT count(*) FROM decisions").fetchall()[0][0])
    finally:
        conn.close()


def row_by_row(rows: Iterable[dict[str, Any]], episodes: dict[str, dict[str, Any]],
               config: RewardConfig) -> dict[str, tuple[float, dict[str, float]]]:  # fmt: skip
    """The baseline: reward_decision once per decision, each row's JSON decoded on its own."""
    out: dict[str, tuple[float, dict[str, float]]] = {}
    index, current = 0, None
    for row in rows:
        episode = episodes[row["episode_id"]]
        if row["episode_id"] != current:
            index, current = 0, row["episode_id"]
        record = DecisionRecord(
            decision_id=row["decision_id"],
            move=Move(name="noop"),  # the move does not enter the reward
            signals=json.loads(row["signals"]),
            transition=row["transition"],
            transition_correct=row["transition_correct"],
        )
        last = index == episode["decisions"] - 1
        outcome = (
            EpisodeOutcome(
                status="completed",
                signals=json.loads(episode["outcome"] or "{}"),
                decisions=episode["decisions"],
                baseline_actions=episode["baseline_actions"],
            )
            if last
            else None
        )
        reward = reward_decision(
            record,
            index,
            stage=episode["stage"],
            baseline_actions=episode["baseline_actions"],
            judge=json.loads(row["scores"]) if row["scores"] else None,
            outcome=outcome,
            config=config,
        )
        out[row["decision_id"]] = (reward.scalar, reward.vector)
        index += 1
    return out


def run(decisions: int, sample: int, batch: int, template_episodes: int, repeats: int, workdir: Path) -> dict[str, Any]:  # fmt: skip
    store = workdir / "history.duckdb"
    started = time.perf_counter()
    write_history(store, template_episodes)
    stored = replicate(store, decisions)
    prepared_s = time.perf_counter() - started

    config = load_reward_config()
    judge_version = version_of(OfflineJudge(SamplingConfig()))
    reader = open_store(store)
    try:
        started = time.perf_counter()
        history = load_history(reader, ReplayFilter(), judge_version)
        load_s = time.perf_counter() - started
    finally:
        reader.close()

    tables = RewardTables(config)
    conn = duckdb.connect()
    vector_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        results = [
            rescore(d, e, tables, judge_version, conn)
            for d, e in batches(history.decisions, history.episodes, batch)
        ]
        vector_times.append(time.perf_counter() - started)
    vector_s = min(vector_times)
    rescored = sum(r.num_rows for r in results)

    # the baseline, on whole episodes from the start of the (episode-ordered) history
    head = history.decisions.slice(0, sample + 1)
    cut = head.column("episode_id")[-1]  # maybe cut by the slice: left out
    head = head.filter(pc.not_equal(head.column("episode_id"), cut))
    baseline_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = head.to_pylist()
        sample_ids = pc.unique(head.column("episode_id"))
        episode_rows = {
            e["episode_id"]: e
            for e in history.episodes.filter(
                pc.is_in(history.episodes.column("episode_id"), sample_ids)
            ).to_pylist()
        }
        for row in rows:
            episode = episode_rows[row["episode_id"]]
            episode["decisions"] = episode.get("decisions", 0) + 1
        baseline = row_by_row(rows, episode_rows, config)
        baseline_times.append(time.perf_counter() - started)
    baseline_sample_s = min(baseline_times)
    baseline_s = baseline_sample_s * rescored / len(baseline)

    # agreement on the sample: the same function, so the same numbers (up to rounding)
    diff = 0.0
    for result in results:
        mine = result.filter(pc.is_in(result.column("decision_id"), head.column("decision_id")))
        for decision_id, scalar, entries in zip(
            mine.column("decision_id").to_pylist(),
            mine.column("scalar").to_pylist(),
            mine.column("vector").to_pylist(),
            strict=True,
        ):
            other_scalar, other = baseline[decision_id]
            vector = dict(entries)
            if set(vector) != set(other):
                raise AssertionError(f"{decision_id}: vector keys differ: {vector} vs {other}")
            diff = max(
                diff, abs(scalar - other_scalar), *(abs(vector[k] - other[k]) for k in other)
            )

    rate = rescored / vector_s
    baseline_rate = rescored / baseline_s
    return {
        "decisions": rescored,
        "decisions_stored": stored,
        "template_episodes": template_episodes,
        "episodes": history.episodes.num_rows,
        "reward_version": config.reward_version,
        "judge_version": judge_version,
        "load_s": round(load_s, 3),
        "vectorised": {
            "seconds": round(vector_s, 3),
            "decisions_per_s": round(rate),
            "batch_size": batch,
            "best_of": repeats,
        },
        "baseline": {
            "method": "reward_decision per row in a Python loop (JSON decoded per row)",
            "sample_decisions": len(baseline),
            "sample_seconds": round(baseline_sample_s, 3),
            "extrapolated": True,
            "best_of": repeats,
            "seconds_for_all": round(baseline_s, 3),
            "decisions_per_s": round(baseline_rate),
        },
        "ratio": round(rate / baseline_rate, 2),
        "ratio_with_load": round((baseline_s + load_s) / (vector_s + load_s), 2),
        "ratio_target": RATIO_TARGET,
        "ok": rate / baseline_rate >= RATIO_TARGET,
        "max_abs_difference_on_sample": diff,
        "torn_episodes_skipped": history.torn,
        "prepare_s": round(prepared_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--baseline-sample", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200_000, help="decisions per vectorised batch")
    parser.add_argument("--template-episodes", type=int, default=390)
    parser.add_argument(
        "--repeats", type=int, default=3, help="time each method this often, keep the best"
    )
    parser.add_argument("--keep", type=Path, default=None, help="build the store in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def measure(workdir: Path) -> dict[str, Any]:
        return run(
            args.decisions,
            args.baseline_sample,
            args.batch,
            args.template_episodes,
            args.repeats,
            workdir,
        )

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = measure(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="dojo-bench-replay-") as tmp:
            report = measure(Path(tmp))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['decisions']:,} decisions re-scored in {report['vectorised']['seconds']} s "
            f"({report['vectorised']['decisions_per_s']:,}/s) after a {report['load_s']} s load; "
            f"row-by-row baseline {report['baseline']['decisions_per_s']:,}/s (measured on "
            f"{report['baseline']['sample_decisions']:,} decisions, extrapolated): ratio "
            f"{report['ratio']} (target {RATIO_TARGET}), {report['ratio_with_load']} with the load"
        )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
