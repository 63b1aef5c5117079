"""A store holding what a running Dojo leaves: episodes, rewards under two versions (two
replays), drift windows and alerts, policy versions, evaluation reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from dojo.config import Settings
from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec
from dojo.events import (
    AnyEvent,
    DriftAlert,
    DriftWindow,
    EvalReport,
    PolicyVersionPublished,
    Stamper,
    encode,
)
from dojo.replay import ReplayOptions, run_replay
from dojo.reward.weights import DEFAULT_CONFIG
from dojo.store import Received, StoreWriter
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import rollout

BEHAVIOURS = ("B-01", "B-08", "B-16")
WINDOWS = 8
VERSIONS = 5
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASELINE_VALUES = {"base_model": 0.35, "prompt_only": 0.4, "scripted_senior": 0.8, "random": 0.1}


def elicitation(version: int) -> float:
    """The subject's elicitation quality at policy version ``version``: it learns."""
    return round(0.3 + 0.06 * version, 6)


def progress_reports(stamper: Stamper, versions: range) -> list[EvalReport]:
    """One evaluator report per policy version (quick, every third one full), the subject
    getting better at elicitation against four baselines that stay where they are.

    Not measured (None or absent, never zero): research effectiveness anywhere; intent
    match at the first version; prompt-only at the second version (its baseline absent)."""
    reports = []
    for v in versions:
        cadence = "full" if v % 3 == 0 else "quick"
        baselines = {
            name: {"elicitation_quality": value, "intent_match": value / 2}
            for name, value in BASELINE_VALUES.items()
            if not (v == 2 and name == "prompt_only")
        }
        reports.append(
            stamper.make(
                EvalReport,
                (cadence, v),
                report_id=f"{cadence}@{100 * v}/run-1",
                cadence=cadence,
                policy_version=f"v{v:06d}",
                stage=1,
                tasks=10 if cadence == "quick" else 40,
                metrics={
                    "elicitation_quality": elicitation(v),
                    "intent_match": None if v == 1 else 0.5 + 0.05 * v,
                    "research_effectiveness": None,
                },
                baselines=baselines,
            )
        )
    return reports


def monitoring_events() -> list[AnyEvent]:
    """What the drift agent, the learner and the evaluator publish, over a short while."""
    ticks = iter(range(10_000))
    stamper = Stamper("test-monitoring", clock=lambda: START + timedelta(seconds=next(ticks)))
    events: list[AnyEvent] = []
    for b, behaviour in enumerate(BEHAVIOURS):
        for w in range(WINDOWS):
            start = START + timedelta(seconds=30 * w)
            common = {
                "behaviour": behaviour,
                "episode_type": "E-1.2",
                "window_kind": "tumbling",
                "window_start": start,
                "window_end": start + timedelta(seconds=30),
                "reward_version": "r-test",
                "judge_version": "offline@test",
            }
            events.append(
                stamper.make(
                    DriftWindow,
                    (behaviour, w),
                    n=40 + w,
                    agreement=0.8 - 0.05 * w - 0.1 * b,
                    mean_residual=-0.1 + 0.04 * w,
                    psi=0.1,
                    ks=0.1,
                    page_hinkley=0.5 * w,
                    **common,
                )
            )
            if behaviour == "B-08" and w == WINDOWS - 1:
                events.append(
                    stamper.make(
                        DriftAlert,
                        (behaviour, w, "psi"),
                        metric="psi",
                        value=1.4,
                        threshold=0.9,
                        message="B-08|E-1.2: judge distribution moved (PSI 1.40 > 0.90)",
                        **common,
                    )
                )
    for v in range(1, VERSIONS + 1):
        events.append(
            stamper.make(
                PolicyVersionPublished,
                (f"v{v:06d}",),
                policy_version=f"v{v:06d}",
                parent_version=f"v{v - 1:06d}" if v > 1 else None,
                base_model="tiny",
                adapter_path=f"/adapters/v{v:06d}",
                updates=4 * v,
                trajectories=32 * v,
                metrics={
                    "reward_mean": 0.1 + 0.05 * v,
                    "kl_to_reference": 0.001 * v * v,
                    "idle_ratio": 0.2,
                    "policy_lag": 1.0,
                },
            )
        )
        if v < VERSIONS:
            events += progress_reports(stamper, range(v, v + 1))
    events.append(
        stamper.make(
            EvalReport,
            ("quick-1",),
            report_id="quick-1",
            cadence="quick",
            policy_version=f"v{VERSIONS:06d}",
            stage=1,
            tasks=10,
            metrics={"elicitation_quality": 0.62, "sufficiency_error": 0.2},
            baselines={"random": {"elicitation_quality": 0.2, "sufficiency_error": 0.6}},
            transfer={"B-01": 0.9},
        )
    )
    return events


def store_with_data(tmp: Path) -> Settings:
    store = tmp / "store.duckdb"
    stamper = Stamper("test-env")
    events: list[AnyEvent] = []
    for i in range(12):
        kind = EPISODE_TYPES[i % len(EPISODE_TYPES)]
        spec = EpisodeSpec(episode_type=kind, seed=i, stage=int(kind[2]))
        events += rollout(spec, f"ep-{i:03d}", ReferenceActor("senior", i), stamper)
    events += monitoring_events()
    writer = StoreWriter(store)
    try:
        writer.write([Received(e, encode(e), "test", 0, i) for i, e in enumerate(events)])
    finally:
        writer.close()
    settings = Settings(store_path=store, data_dir=tmp / "data", judge="offline")
    # two reward versions, as two replays leave them
    changed = yaml.safe_load(DEFAULT_CONFIG.read_text())
    changed["transitions"]["plan_to_execute"] = 0.3
    (tmp / "changed.yaml").write_text(yaml.safe_dump(changed))
    asyncio.run(run_replay(settings, ReplayOptions()))
    asyncio.run(run_replay(settings, ReplayOptions(reward_config=tmp / "changed.yaml")))
    return settings
