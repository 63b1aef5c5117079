"""What a chat model's reused KV cache saves: re-reading every prompt vs one conversation per episode.

    python -m bench.conversation_cost --json

The preset (``--preset``, by default ``smollm2-135m-instruct``) plays the same
``--episodes`` stage-1 episodes (same specs, same seeds, ``--lockstep`` of them
side by side, as an environment worker plays them) twice in one run, on the CPU:

* ``reread``: every decision is a whole prompt, the system instruction and the
  whole observation, read from scratch (:meth:`~dojo.policy.LMPolicy.act_batch`);
* ``cached``: every episode is one conversation whose KV cache is kept between
  decisions, each decision reading only its move's tail and what is new in the
  observation (:meth:`~dojo.policy.LMPolicy.act_episodes`).

The model's own moves drive the episodes, so the two ways may play different
moves from the same seeds (their prompts differ); the figures are per decision.
``--max-steps`` caps the decisions per episode (the rest of an episode is not
played) to keep the run short. The defaults (2 episodes side by side, at most 4
decisions each, one torch thread as an environment worker has) take about 8
minutes on a loaded 2-core machine; a stage-1 episode runs to 20-40 decisions, and
since every episode's first decision is a whole prompt either way, short episodes
understate what the cache saves: raise ``--max-steps`` for the figures that matter.

Printed for each way: prompt tokens the model read per decision (prefilled),
decisions per CPU-second (``time.process_time``, every thread of the process)
and per wall second, counting the decoding calls only; then the learner's cost
of the same decisions: seconds per trained decision, scoring their log-probs
with gradients (forward and backward) through the learner's scoring function
(:func:`dojo.training.ppo._score`: one pass per decision for whole prompts, one
pass per conversation for conversations), in the learner's minibatches
(:func:`~dojo.training.samples.split_minibatches`, ``--batch`` decisions).

Ratios, against the ``reread`` way measured in the same run: tokens read,
re-read / cached (issue 20's target: at least 4x), and decisions per CPU-second,
cached / re-read (target: at least 3x). No assertion on time: the figures are
printed, the targets beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dojo.config import Settings
from dojo.env import EPISODE_TYPES, make_episode
from dojo.env.protocol import Episode, EpisodeSpec, Observation
from dojo.policy import Generation, LMPolicy
from dojo.training.ppo import _score
from dojo.training.samples import DecisionSample, split_minibatches

TOKENS_TARGET = 4.0  # re-read / cached prompt tokens per decision
SPEED_TARGET = 3.0  # cached / re-read decisions per CPU-second
SEED_BASE = 20_000  # training seeds, away from the tests' and the held-out ones


def stage1_specs(episodes: int) -> list[EpisodeSpec]:
    types = [t for t in EPISODE_TYPES if t.startswith("E-1.")]
    return [
        EpisodeSpec(
            episode_type=types[i % len(types)],
            seed=SEED_BASE + i,
            difficulty=0.5,
            stage=1,
        )
        for i in range(episodes)
    ]


@dataclass
class Played:
    """One way's decisions, per episode, and the decoding time they took."""

    decisions: dict[str, list[Generation]] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    finished: int = 0  # episodes played to their end (not cut by --max-steps)


def play(
    policy: LMPolicy, specs: list[EpisodeSpec], lockstep: int, max_steps: int, *, cached: bool
) -> Played:
    """``specs`` in groups of ``lockstep`` episodes, each group decoded side by side."""
    played = Played()
    for start in range(0, len(specs), lockstep):
        live: dict[str, tuple[Episode, Observation]] = {}
        for spec in specs[start : start + lockstep]:
            key = f"{spec.episode_type}/{spec.seed}"
            episode = make_episode(spec)
            first, _ = episode.start()
            played.decisions[key] = []
            if first is not None:
                live[key] = (episode, first)
        while live:
            keys = list(live)
            observations = [live[k][1] for k in keys]
            seeds = [
                int(k.split("/")[1]) * 1_000 + o.step
                for k, o in zip(keys, observations, strict=True)
            ]
            cpu, wall = time.process_time(), time.perf_counter()
            if cached:
                generations = policy.act_episodes(keys, observations, seeds)
            else:
                generations = policy.act_batch(observations, seeds)
            played.cpu_s += time.process_time() - cpu
            played.wall_s += time.perf_counter() - wall
            for key, generation in zip(keys, generations, strict=True):
                played.decisions[key].append(generation)
                playing, _ = live[key]
                result = playing.step(generation.text)
                if result.done or result.observation is None:
                    played.finished += 1
                if (
                    result.done
                    or result.observation is None
                    or len(played.decisions[key]) >= max_steps
                ):
                    del live[key]
                    policy.end_episode(key)
                else:
                    live[key] = (playing, result.observation)
    return played


def samples_of(played: Played, version: str, episodes: int) -> list[DecisionSample]:
    """The decisions of the first ``episodes`` episodes, as the learner receives them."""
    kept = list(played.decisions)[:episodes]
    return [
        DecisionSample(
            trajectory_id=key,
            decision_id=f"{key}/{step:03d}",
            episode_type=key.split("/")[0],
            step=step,
            policy_version=version,
            prompt_token_ids=g.prompt_token_ids,
            completion_token_ids=g.completion_token_ids,
            logprobs=g.logprobs,
            allowed_token_ids=g.allowed_token_ids,
            reward=0.0,
            context_offset=g.context_offset,
        )
        for key in kept
        for step, g in enumerate(played.decisions[key])
    ]


def train_cost(policy: LMPolicy, samples: list[DecisionSample], batch: int) -> dict[str, float]:
    """Score every decision's log-probs with gradients, minibatch by minibatch, as the
    learner does (forward and backward; no optimizer step: the weights stay as they are)."""
    model = policy.model
    model.train()
    cpu, wall = time.process_time(), time.perf_counter()
    passes = 0
    for chunk in split_minibatches(samples, batch):
        scores = _score(model, chunk, policy.sampling.temperature, policy.tokens.pad_token_id)
        loss = -(scores.logprobs * scores.mask).sum() / scores.mask.sum().clamp(min=1)
        loss.backward()
        model.zero_grad(set_to_none=True)
        passes += 1
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    model.eval()
    n = len(samples)
    return {
        "decisions": n,
        "minibatches": passes,
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 3),
        "cpu_s_per_decision": round(cpu_s / n, 4),
        "wall_s_per_decision": round(wall_s / n, 4),
    }


def summarise(played: Played, training: dict[str, float]) -> dict[str, Any]:
    flat = [g for gs in played.decisions.values() for g in gs]
    n = len(flat)
    return {
        "episodes": len(played.decisions),
        "episodes_finished": played.finished,
        "decisions": n,
        "prefilled_tokens_per_decision": round(
            statistics.fmean(g.prefilled_tokens for g in flat), 1
        ),
        "stored_prompt_tokens_per_decision": round(
            statistics.fmean(len(g.prompt_token_ids) for g in flat), 1
        ),
        "completion_tokens_per_decision": round(
            statistics.fmean(len(g.completion_token_ids) for g in flat), 1
        ),
        "conversation_tokens_max": max(g.context_offset + len(g.prompt_token_ids) for g in flat),
        "restarts": sum(g.context_restarted for g in flat),
        "decode_cpu_s": round(played.cpu_s, 3),
        "decode_wall_s": round(played.wall_s, 3),
        "decisions_per_cpu_s": round(n / played.cpu_s, 3),
        "decisions_per_wall_s": round(n / played.wall_s, 3),
        "learner": training,
    }


def run(
    preset: str,
    episodes: int,
    lockstep: int,
    max_steps: int,
    batch: int,
    threads: int | None,
    learner_episodes: int | None = None,
) -> dict[str, Any]:
    if threads:
        torch.set_num_threads(threads)
    specs = stage1_specs(episodes)
    with tempfile.TemporaryDirectory(prefix="dojo-bench-conv-") as tmp:
        settings = Settings(policy=preset, data_dir=Path(tmp), policy_device="cpu")
        # a fresh adapter (zero-initialised: it acts as the base) whose weights take gradients
        policy = LMPolicy.load(preset, settings=settings, device="cpu", trainable=True)
        if policy.conversations is None:
            raise SystemExit(
                f"{preset} keeps no conversations (not a chat model with full attention)"
            )
        policy.model.eval()
        print(f"{preset} loaded", file=sys.stderr, flush=True)
        policy.act_batch([make_episode(specs[0]).start()[0]], [0])  # warm-up, untimed
        ways: dict[str, dict[str, Any]] = {}
        for way in ("reread", "cached"):
            played = play(policy, specs, lockstep, max_steps, cached=way == "cached")
            print(f"{way}: played, {played.cpu_s:.1f} CPU-s", file=sys.stderr, flush=True)
            scored = samples_of(played, policy.version, learner_episodes or episodes)
            training = train_cost(policy, scored, batch)
            ways[way] = summarise(played, training)
            print(f"{way}: scored, {training['cpu_s']:.1f} CPU-s", file=sys.stderr, flush=True)
    reread, cached = ways["reread"], ways["cached"]
    tokens = reread["prefilled_tokens_per_decision"] / cached["prefilled_tokens_per_decision"]
    speed = cached["decisions_per_cpu_s"] / reread["decisions_per_cpu_s"]
    learner = reread["learner"]["cpu_s_per_decision"] / cached["learner"]["cpu_s_per_decision"]
    return {
        "preset": preset,
        "episodes": episodes,
        "lockstep": lockstep,
        "max_steps": max_steps,
        "batch": batch,
        "learner_episodes": learner_episodes or episodes,
        "torch_threads": torch.get_num_threads(),
        "ways": ways,
        "ratios": {
            "prefilled_tokens_reread_over_cached": round(tokens, 2),
            "prefilled_tokens_target": TOKENS_TARGET,
            "decisions_per_cpu_s_cached_over_reread": round(speed, 2),
            "decisions_per_cpu_s_target": SPEED_TARGET,
            "decisions_per_wall_s_cached_over_reread": round(
                cached["decisions_per_wall_s"] / reread["decisions_per_wall_s"], 2
            ),
            "learner_cpu_s_per_decision_reread_over_cached": round(learner, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smollm2-135m-instruct")
    parser.add_argument("--episodes", type=int, default=2, help="stage-1 episodes per way")
    parser.add_argument("--lockstep", type=int, default=2, help="episodes decoded side by side")
    parser.add_argument("--max-steps", type=int, default=4, help="decisions per episode at most")
    parser.add_argument("--batch", type=int, default=8, help="learner minibatch, in decisions")
    parser.add_argument(
        "--learner-episodes",
        type=int,
        default=None,
        help="episodes whose decisions the learner's cost is measured on (default: all);"
        " scoring whole prompts costs seconds per decision, so wide runs measure a subset",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1, as an environment worker)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if min(args.episodes, args.lockstep, args.max_steps, args.batch) < 1:
        parser.error("--episodes, --lockstep, --max-steps and --batch must be at least 1")
    if args.learner_episodes is not None and args.learner_episodes < 1:
        parser.error("--learner-episodes must be at least 1")
    result = run(
        args.preset,
        args.episodes,
        args.lockstep,
        args.max_steps,
        args.batch,
        args.threads,
        args.learner_episodes,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['preset']}: {result['episodes']} stage-1 episodes, {result['lockstep']} in "
        f"lockstep, at most {result['max_steps']} decisions each, {result['torch_threads']} threads"
    )
    for way, r in result["ways"].items():
        learner = r["learner"]
        print(
            f"  {way:7s} {r['decisions']:3d} decisions  prefilled {r['prefilled_tokens_per_decision']:7.1f}"
            f" tok/decision  {r['decisions_per_cpu_s']:6.3f} decisions/CPU-s"
            f"  {r['decisions_per_wall_s']:6.3f} decisions/wall-s"
            f"  learner {learner['cpu_s_per_decision']:.4f} CPU-s/decision"
            f" ({learner['wall_s_per_decision']:.4f} wall-s)"
        )
    ratios = result["ratios"]
    print(
        f"  tokens re-read/cached {ratios['prefilled_tokens_reread_over_cached']:.2f}x"
        f" (target >= {TOKENS_TARGET:g}x)  decisions/CPU-s cached/re-read"
        f" {ratios['decisions_per_cpu_s_cached_over_reread']:.2f}x (target >= {SPEED_TARGET:g}x)"
        f"  learner re-read/cached {ratios['learner_cpu_s_per_decision_reread_over_cached']:.2f}x"
    )


if __name__ == "__main__":
    main()
