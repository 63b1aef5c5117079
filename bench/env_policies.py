"""Mean episode reward per curriculum stage for the reference policies, on held-out seeds.

    python -m bench.env_policies --episodes 300 --json

For each stage, ``--episodes`` episodes cycle through that stage's episode types
(E-<stage>.x) at difficulties spread over [0.05, 0.95], on held-out seeds (at or
above :data:`~dojo.env.protocol.HELD_OUT_SEED_BASE`: never drawn for training,
never used by tests). Each episode is scored by the reward function
(:func:`dojo.reward.attribute_episode`); the figure per policy is the mean
episode total with its 95 % interval (normal approximation). The simulator is
calibrated when, on every stage, senior > junior > random with non-overlapping
intervals; the differences are against random, measured in the same run, and
``per_type`` breaks each stage's means down by episode type. Exit status 1 when
the ordering fails.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys

from dojo.env import EpisodeSpec, registry
from dojo.env.protocol import HELD_OUT_SEED_BASE
from dojo.env.reference import REFERENCE_POLICIES, make_reference_policy
from dojo.env.rollout import play
from dojo.reward import DecisionRecord, attribute_episode
from dojo.reward.attribution import default_config

HELD_OUT_SEED = HELD_OUT_SEED_BASE


def episode_reward(spec: EpisodeSpec, policy: str) -> float:
    trace = play(spec, make_reference_policy(policy, spec.seed))
    decisions = [
        DecisionRecord.from_step(i, r)
        for i, r in zip(trace.decision_ids(), trace.steps, strict=True)
    ]
    return attribute_episode(spec, decisions, trace.outcome).total


def stage_specs(stage: int, episodes: int) -> list[EpisodeSpec]:
    types = registry.codes(stage)
    return [
        EpisodeSpec(
            episode_type=types[i % len(types)],
            seed=HELD_OUT_SEED + 10_000 * stage + i,
            difficulty=0.05 + 0.1 * (i % 10),
            stage=stage,
        )
        for i in range(episodes)
    ]


def summarise(values: list[float]) -> dict[str, float | list[float] | int]:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return {"n": len(values), "mean": mean, "ci95": [mean - half, mean + half]}


def run(episodes: int) -> dict[str, object]:
    stages: dict[str, object] = {}
    all_ordered = True
    for stage in (1, 2, 3, 4):
        specs = stage_specs(stage, episodes)
        rewards = {p: [episode_reward(s, p) for s in specs] for p in REFERENCE_POLICIES}
        result = {p: summarise(rewards[p]) for p in REFERENCE_POLICIES}
        per_type = {
            t: {
                p: statistics.fmean(
                    r for s, r in zip(specs, rewards[p], strict=True) if s.episode_type == t
                )
                for p in REFERENCE_POLICIES
            }
            for t in dict.fromkeys(s.episode_type for s in specs)
        }
        lo = {p: result[p]["ci95"][0] for p in REFERENCE_POLICIES}  # type: ignore[index]
        hi = {p: result[p]["ci95"][1] for p in REFERENCE_POLICIES}  # type: ignore[index]
        ordered = lo["senior"] > hi["junior"] and lo["junior"] > hi["random"]
        all_ordered &= ordered
        base = result["random"]["mean"]
        stages[str(stage)] = {
            **result,
            "ordered": ordered,
            "senior_minus_random": result["senior"]["mean"] - base,  # type: ignore[operator]
            "junior_minus_random": result["junior"]["mean"] - base,  # type: ignore[operator]
            "per_type": per_type,
        }
    return {
        "episodes_per_stage": episodes,
        "held_out_seed_start": HELD_OUT_SEED,
        "reward_version": default_config().reward_version,
        "stages": stages,
        "all_ordered": all_ordered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300, help="episodes per stage and policy")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    report = run(args.episodes)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for stage, r in report["stages"].items():  # type: ignore[attr-defined]
            cells = "  ".join(
                f"{p} {r[p]['mean']:.3f} [{r[p]['ci95'][0]:.3f}, {r[p]['ci95'][1]:.3f}]"
                for p in REFERENCE_POLICIES
            )
            print(f"stage {stage}: {cells}  ordered={r['ordered']}")
    return 0 if report["all_ordered"] else 1


if __name__ == "__main__":
    sys.exit(main())
