"""Scripted decisions per second of the simulator on one core, beside AAT's mock mode.

    python -m bench.env_speed --json

Plays episodes of all 13 types round-robin with the three reference policies
(the policy's own thinking included, as the environment worker would run it)
for about ``--seconds`` seconds per measurement, pinned to one CPU where the OS
allows. Measured in the same run:

* ``parse_only`` — :func:`dojo.env.moves.parse_move` alone on the same
  completions: the ceiling any step pays;
* ``simulator`` — episodes stepped by the policies;
* ``simulator_and_reward`` — the same, plus per-decision reward attribution.

The baseline is AAT's mock mode. With an AAT checkout (``--aat-path`` or
``DOJO_AAT_PATH``) it is measured in the same run: whole AAT episodes of all 13
types through :class:`dojo.env.aat.AATBackend`, every agent's decision counted,
in a temporary directory (AAT writes under the current one). Without one, the
documented figure stands in — 0.07-0.15 s per ~22-decision episode, about 300
decisions/s (SPEC §8, NOTES.md) — and ``aat_mock_measured`` says so. Ratios
are against the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dojo.config import Settings
from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode
from dojo.env.aat import AATBackend, AATUnavailable
from dojo.env.moves import parse_move
from dojo.env.reference import REFERENCE_POLICIES, make_reference_policy
from dojo.env.rollout import play
from dojo.reward import DecisionRecord, attribute_episode

AAT_MOCK_DECISIONS_PER_S = 300.0


def pin_one_core() -> bool:
    if not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return True


def timed(seconds: float, episode: Callable[[int], int]) -> float:
    """Decisions per second of ``episode(i)`` (which returns its decision count)."""
    decisions = 0
    i = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        decisions += episode(i)
        i += 1
    return decisions / elapsed


def _spec(i: int) -> EpisodeSpec:
    return EpisodeSpec(
        episode_type=EPISODE_TYPES[i % 13], seed=i, difficulty=0.1 + 0.8 * ((i // 13) % 9) / 8
    )


def simulator(i: int) -> int:
    policy = make_reference_policy(REFERENCE_POLICIES[(i // 13) % 3], i)
    episode = make_episode(_spec(i))
    observation, _ = episode.start()
    n = 0
    while True:
        result = episode.step(policy.decide(observation))
        n += 1
        if result.observation is None:
            return n
        observation = result.observation


def simulator_and_reward(i: int) -> int:
    spec = _spec(i)
    trace = play(spec, make_reference_policy(REFERENCE_POLICIES[(i // 13) % 3], i))
    decisions = [
        DecisionRecord.from_step(d, r)
        for d, r in zip(trace.decision_ids(), trace.steps, strict=True)
    ]
    attribute_episode(spec, decisions, trace.outcome)
    return len(trace.steps)


def parse_only(seconds: float) -> float:
    traces = [
        play(_spec(i), make_reference_policy(REFERENCE_POLICIES[i % 3], i)) for i in range(39)
    ]
    work = []
    for t in traces:
        seen = [t.first, *(r.observation for r in t.steps[:-1])]
        work += [(c, o.moves) for c, o in zip(t.completions, seen, strict=True) if o is not None]

    def parse_one(i: int) -> int:
        parse_move(*work[i % len(work)])
        return 1

    return timed(seconds, parse_one)


def aat_mock(seconds: float, path: str | None) -> tuple[float | None, str]:
    """AAT's mock-mode decisions per second, or ``None`` and why it was not measured."""
    try:
        with tempfile.TemporaryDirectory(prefix="dojo-aat-bench-") as tmp:
            backend = AATBackend.load(path, workspace=Path(tmp) / "episodes")
            cwd = os.getcwd()
            os.chdir(tmp)
            try:

                def episode(i: int) -> int:
                    result = asyncio.run(backend.run_episode(_spec(i)))
                    return len(result.decisions(candidate_only=False))

                return timed(seconds, episode), f"measured with the AAT checkout at {path}"
            finally:
                os.chdir(cwd)
    except AATUnavailable as exc:
        return None, f"documented figure (SPEC §8); not measured: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--aat-path",
        default=None,
        help="an AAT checkout to measure its mock mode in the same run (default: DOJO_AAT_PATH)",
    )
    args = parser.parse_args(argv)
    pinned = pin_one_core()
    sim = timed(args.seconds, simulator)
    with_reward = timed(args.seconds, simulator_and_reward)
    aat_path = args.aat_path or (str(p) if (p := Settings().aat_path) else None)
    measured, aat_source = aat_mock(args.seconds, aat_path)
    baseline = measured if measured is not None else AAT_MOCK_DECISIONS_PER_S
    report = {
        "pinned_to_one_core": pinned,
        "parse_only_per_s": parse_only(args.seconds),
        "simulator_decisions_per_s": sim,
        "simulator_and_reward_decisions_per_s": with_reward,
        "aat_mock_reference_decisions_per_s": baseline,
        "aat_mock_measured": measured is not None,
        "aat_mock_source": aat_source,
        "ratio_vs_aat_mock": sim / baseline,
        "ratio_with_reward_vs_aat_mock": with_reward / baseline,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
