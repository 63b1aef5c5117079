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

``aat_mock_reference`` is not measured here (AAT is not installed): it is the
documented figure of AAT's mock mode, 0.07-0.15 s per ~22-decision episode,
i.e. about 300 decisions/s (SPEC §8, NOTES.md). Ratios are against it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

from dojo.env import EPISODE_TYPES, EpisodeSpec, make_episode
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    pinned = pin_one_core()
    sim = timed(args.seconds, simulator)
    with_reward = timed(args.seconds, simulator_and_reward)
    report = {
        "pinned_to_one_core": pinned,
        "parse_only_per_s": parse_only(args.seconds),
        "simulator_decisions_per_s": sim,
        "simulator_and_reward_decisions_per_s": with_reward,
        "aat_mock_reference_decisions_per_s": AAT_MOCK_DECISIONS_PER_S,
        "ratio_vs_aat_mock": sim / AAT_MOCK_DECISIONS_PER_S,
        "ratio_with_reward_vs_aat_mock": with_reward / AAT_MOCK_DECISIONS_PER_S,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
