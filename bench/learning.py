"""Does the learner learn? The real streaming system trains the policy; held-out episodes judge it.

    python -m bench.learning --preset tiny --stage 1 --minutes 8 --json

1. The untrained policy (the base model, no adapter), the prompt-only baseline, the
   scripted ``random`` and
   ``senior`` references (:mod:`dojo.env.reference`) play the same held-out
   episodes: seeds from ``HELD_OUT_SEED_BASE`` up (never dealt to a training
   worker), cycling through the stage's episode types at difficulties spread over
   [0.05, 0.95]. Every episode is scored by the reward function
   (:func:`dojo.reward.attribute_episode`, no judge), as ``bench.env_policies`` does.
2. ``dojo up`` runs for ``--minutes`` on an embedded broker and a fresh data dir:
   sink, scoring app, environment workers and the learner, each its own process.
   The learner publishes policy versions; the workers load each one between
   episodes.
3. Checkpoint selection, on validation episodes only: the newest ``--candidates``
   published versions, ``stride`` versions apart over the end of the run (the
   learner publishes its last weights when it stops), each with its own weights
   and with the Polyak average of the weights published beside them
   (``averaged/``, see :mod:`dojo.policy.averaging`), play
   ``--validation-episodes`` episodes on *validation* seeds — held out from
   training too, but disjoint from the test seeds of step 1 — at each sampling
   temperature of ``--temperatures`` (the tiny preset's default: 1, the workers' own, and
   0.5; a real model's: 1). The best
   adapter at its best temperature is the trained policy; it plays the held-out
   test episodes, and so does the same adapter at the workers' temperature
   (``at_training_temperature``). The untrained policy's temperature is chosen
   the same way, on the same validation episodes. A policy
   trained by streaming PPO swings from version to version (an episode type's
   reward can dip by 0.2 for a few dozen updates), and which version happens to
   be the newest when the clock stops is chance; averaging smooths the swings,
   and choosing on validation episodes and reporting on untouched test episodes
   keeps the test estimate unbiased. The newest version's own weights' test score,
   at the chosen temperature, is reported beside it (``newest``).

It passes when ``trained − random ≥ 0.5 × (senior − random)``, ``trained >
untrained + 3 standard errors`` (the standard error of the difference of the two
means) and ``trained ≥ prompt-only`` (the base with the senior behaviour spelled out
in its system instruction, :mod:`dojo.eval.senior_prompt`: what a prompt alone
gets). Exit status 1 when any fails. The figures are ratios against baselines
measured in the same run; the learner's own numbers (updates, trajectories,
policy lag, idle ratio) come from the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console

from dojo.config import Settings
from dojo.env.protocol import EPISODE_TYPES, HELD_OUT_SEED_BASE, EpisodeSpec, Observation
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import Trace, episode_key, play, play_lockstep
from dojo.eval.senior_prompt import SENIOR_BEHAVIOUR_PROMPT
from dojo.policy import AdapterRegistry, LMPolicy, smollm2
from dojo.policy.registry import registry_root
from dojo.reward import DecisionRecord, attribute_episode
from dojo.store import open_store
from dojo.workers.services import ENV_WORKERS, LEARNER, SCORING, SINK
from dojo.workers.supervisor import Supervisor

err = Console(stderr=True)


#: validation seeds start this far into a stage's held-out range: never a test seed
VALIDATION_OFFSET = 5_000

#: episodes each candidate plays for the choice: as many as the test. The candidates of
#: a run's end differ by a few hundredths, about the standard error of 100 episodes, so
#: fewer choose by luck (and show the winner's optimism on the test episodes)
VALIDATION_EPISODES = 250

#: sampling temperatures a model policy may be deployed at, chosen on validation episodes:
#: the one it was trained at, and a sharper one (a policy trained with an entropy bonus
#: keeps some probability on moves it has learned are worse)
TEMPERATURES = (1.0, 0.5)


#: Training is the --minutes; the update in hand when they end is not waited for as dojo
#: up waits for it (up to 15 minutes): a smollm2-135m-instruct update at the end of a run
#: outlasted that, was killed, and the bench threw the run away. The versions published
#: in the window are what is evaluated; the learner's exit is reported
#: (``system.status``, ``system.errors``).
LEARNER_STOP_S = 60.0


@dataclass(frozen=True)
class Sizes:
    """How much each step of the bench plays, by default: what fits its time here."""

    episodes: int  # held-out test episodes per policy
    validation_episodes: int  # per candidate adapter and temperature
    candidates: int
    temperatures: tuple[float, ...]


#: The tiny preset plays an episode in a fraction of a second. A real model reads and
#: writes prose at 1-2 s of wall time per decision side by side on this 2-core machine,
#: and its untrained episodes run to their step limit (30-70 decisions): 16 test episodes
#: are 4-5 minutes for each policy, so the whole bench, 60 minutes of training
#: included, finishes within 100. A candidate and a temperature each, as the run
#: publishes a dozen versions, not hundreds.
SIZES = {
    "tiny": Sizes(250, VALIDATION_EPISODES, 6, TEMPERATURES),
    smollm2.PRESET_NAME: Sizes(16, 8, 1, (1.0,)),
}


def default_sizes(preset: str) -> Sizes:
    """The preset's sizes; any other model (a folder, a hub id) is sized as a real one."""
    return SIZES.get(preset, SIZES[smollm2.PRESET_NAME])


def held_out_seed_start(stage: int, *, offset: int = 0) -> int:
    """The first seed of a stage's test episodes (``offset`` 0) or validation episodes."""
    return HELD_OUT_SEED_BASE + 10_000 * stage + offset


def held_out_specs(stage: int, episodes: int, *, offset: int = 0) -> list[EpisodeSpec]:
    """Test episodes (``offset`` 0) or validation episodes (``VALIDATION_OFFSET``)."""
    types = [t for t in EPISODE_TYPES if t.startswith(f"E-{stage}.")]
    start = held_out_seed_start(stage, offset=offset)
    return [
        EpisodeSpec(
            episode_type=types[i % len(types)],
            seed=start + i,
            difficulty=round(0.05 + 0.1 * (i % 10), 3),
            stage=stage,
        )
        for i in range(episodes)
    ]


def candidate_versions(versions: list[str], count: int) -> list[str]:
    """The newest ``count`` versions, spread over the last eighth of the run (newest first)."""
    stride = max(1, len(versions) // (8 * count))
    return versions[::-1][: count * stride : stride]


def candidate_adapters(registry: AdapterRegistry, version: str) -> list[Path]:
    """The adapters ``version`` offers: its averaged weights where it has them, its own."""
    try:
        return [registry.averaged_path(version), registry.path(version)]
    except KeyError:
        return [registry.path(version)]


def at_temperature(policy: LMPolicy, temperature: float) -> None:
    """Let ``policy`` sample at ``temperature`` from now on (its adapter unchanged)."""
    policy.sampling = policy.sampling.model_copy(update={"temperature": temperature})


def select_adapter(
    policy: LMPolicy,
    registry: AdapterRegistry,
    candidates: list[str],
    specs: list[EpisodeSpec],
    temperatures: tuple[float, ...] = TEMPERATURES,
) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """The candidate adapter and temperature with the best mean on the validation
    ``specs``: the adapter's folder, its score (``temperature`` included), and every score.

    Each adapter of each candidate version (:func:`candidate_adapters`) is swapped
    into ``policy`` (the base is loaded once) and plays at each of ``temperatures``.
    """
    scored: list[tuple[Path, dict[str, Any]]] = []
    for version in candidates:
        for adapter in candidate_adapters(registry, version):
            policy.use_adapter(adapter)
            for score in score_temperatures(policy, specs, temperatures):
                scored.append((adapter, {"version": version, **score}))
    path, best = max(scored, key=lambda item: item[1]["mean"])
    return path, best, [score for _, score in scored]


def score_temperatures(
    policy: LMPolicy, specs: list[EpisodeSpec], temperatures: tuple[float, ...]
) -> list[dict[str, Any]]:
    """``policy`` (as it is, adapter and all) on the validation ``specs`` at each temperature."""
    scores = []
    for temperature in temperatures:
        at_temperature(policy, temperature)
        result = evaluate_model(policy, specs)
        scores.append(
            {
                "adapter": policy.version,
                "temperature": temperature,
                "mean": result["mean"],
                "se": result["se"],
            }
        )
        err.print(f"validation {policy.version} at T={temperature:g}: {result['mean']:.3f}")
    return scores


class ModelEpisodes:
    """An LMPolicy playing many episodes side by side, each one conversation (its KV
    cache kept, as the workers play), seeded per episode and step."""

    def __init__(self, policy: LMPolicy, specs: list[EpisodeSpec]) -> None:
        self.policy = policy
        self.seeds = {episode_key(spec): spec.seed for spec in specs}

    def decide_batch(self, observations: list[Observation], keys: list[str]) -> list[str]:
        seeds = [self.seeds[k] * 1_000 + o.step for k, o in zip(keys, observations, strict=True)]
        return [g.text for g in self.policy.act_episodes(keys, observations, seeds)]

    def end(self, key: str) -> None:
        self.policy.end_episode(key)


def episode_reward(trace: Trace) -> float:
    decisions = [
        DecisionRecord.from_step(i, r)
        for i, r in zip(trace.decision_ids(), trace.steps, strict=True)
    ]
    return attribute_episode(trace.spec, decisions, trace.outcome).total


def summarise(values: list[float]) -> dict[str, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return {"n": len(values), "mean": mean, "se": se}


def evaluate_traces(traces: list[Trace]) -> dict[str, Any]:
    rewards = [episode_reward(trace) for trace in traces]
    by_type: dict[str, list[float]] = {}
    for trace, reward in zip(traces, rewards, strict=True):
        by_type.setdefault(trace.spec.episode_type, []).append(reward)
    return {
        **summarise(rewards),
        "by_type": {t: round(statistics.fmean(v), 4) for t, v in sorted(by_type.items())},
    }


def evaluate(specs: list[EpisodeSpec], make: Callable[[EpisodeSpec], Any]) -> dict[str, Any]:
    """A scripted policy (one instance per episode) over ``specs``."""
    return evaluate_traces([play(spec, make(spec)) for spec in specs])


def evaluate_model(policy: LMPolicy, specs: list[EpisodeSpec]) -> dict[str, Any]:
    """A model over ``specs``, a batch of live episodes decoded together."""
    return evaluate_traces(play_lockstep(specs, ModelEpisodes(policy, specs)))


def learner_figures(settings: Settings) -> dict[str, Any]:
    """What the learner did, from the store (its LearnerUpdated and PolicyVersionPublished rows)."""
    reader = open_store(settings.store.path)
    try:
        rows = reader.query(
            """
            SELECT count(*) AS updates,
                   coalesce(sum(json_array_length(trajectory_ids)), 0) AS trained,
                   coalesce(sum(json_array_length(dropped_ids)), 0) AS dropped,
                   coalesce(sum(json_array_length(skipped_ids)), 0) AS skipped,
                   avg((metrics->>'policy_lag')::DOUBLE) AS policy_lag,
                   max((metrics->>'policy_lag_max')::DOUBLE) AS policy_lag_max,
                   avg((metrics->>'idle_ratio')::DOUBLE) AS idle_ratio,
                   avg((metrics->>'kl_to_reference')::DOUBLE) AS kl_to_reference,
                   epoch(max(produced_at) - min(produced_at)) AS training_s
            FROM learner_updates
            """
        ).to_pylist()[0]
        versions = reader.query("SELECT count(*) AS n FROM policy_versions").to_pylist()[0]["n"]
        curve = reader.query(
            """
            SELECT "update", (metrics->>'reward_mean')::DOUBLE AS reward
            FROM learner_updates ORDER BY "update"
            """
        ).to_pylist()
        episodes = reader.query(
            "SELECT count(*) AS n FROM episodes WHERE status IS NOT NULL"
        ).to_pylist()[0]["n"]
    finally:
        reader.close()
    tenth = max(1, len(curve) // 10)
    return {
        **{k: _plain(v) for k, v in rows.items()},
        "versions_published": versions,
        "episodes_played": episodes,
        "reward_first_tenth": _mean([r["reward"] for r in curve[:tenth]]),
        "reward_last_tenth": _mean([r["reward"] for r in curve[-tenth:]]),
    }


def _plain(value: Any) -> Any:
    """DuckDB's sums come back as Decimal; JSON wants numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return round(value, 4) if isinstance(value, float) else value


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def bench_settings(preset: str, stage: int, data_dir: Path, env_workers: int) -> Settings:
    return Settings(
        policy=preset,
        stage=stage,
        data_dir=data_dir,
        store_path=data_dir / "store.duckdb",
        env_workers=env_workers,
        topic_prefix="bench",
        dashboard=False,
        kafka_bootstrap=None,  # the embedded broker
        # The held-out episodes and the references are scored without a judge (as
        # bench.env_policies scores them), so the rewards the learner trains on must be
        # the same function: the scoring app judges no decision in this run.
        judge_sample_every=1_000_000_000,
        # checkpoint selection looks back over the run's last eighth: keep every version
        learner_keep_versions=0,
    )


def run(
    preset: str,
    stage: int,
    minutes: float,
    episodes: int,
    env_workers: int,
    data_dir: Path,
    candidates: int = 6,
    validation_episodes: int = VALIDATION_EPISODES,
    temperatures: tuple[float, ...] = TEMPERATURES,
) -> dict[str, Any]:
    settings = bench_settings(preset, stage, data_dir, env_workers)
    specs = held_out_specs(stage, episodes)
    validation_specs = held_out_specs(stage, validation_episodes, offset=VALIDATION_OFFSET)
    err.print(f"held-out evaluation: {episodes} episodes, stage {stage}")
    started = time.monotonic()
    random_ = evaluate(specs, lambda s: make_reference_policy("random", s.seed))
    senior = evaluate(specs, lambda s: make_reference_policy("senior", s.seed))
    base = LMPolicy.load(preset, settings=settings)
    trained_at = base.sampling.temperature  # what the workers sample at, the learner scores at
    # the untrained policy gets the same choice of temperature as the trained one (with
    # one temperature there is nothing to choose, and its validation play is skipped)
    untrained_choice = (
        max(score_temperatures(base, validation_specs, temperatures), key=lambda s: s["mean"])
        if len(temperatures) > 1
        else {"temperature": temperatures[0]}
    )
    at_temperature(base, untrained_choice["temperature"])
    untrained = {**evaluate_model(base, specs), "temperature": untrained_choice["temperature"]}
    # the base asked in words for everything training teaches, at the same temperature
    prompted = base.with_instruction(SENIOR_BEHAVIOUR_PROMPT, f"{base.version}+senior-prompt")
    prompt_only = {
        **evaluate_model(prompted, specs),
        "temperature": untrained_choice["temperature"],
    }
    err.print(
        f"untrained {untrained['mean']:.3f}, prompt-only {prompt_only['mean']:.3f}, "
        f"random {random_['mean']:.3f}, "
        f"senior {senior['mean']:.3f} ({time.monotonic() - started:.0f}s)"
    )

    err.print(f"dojo up for {minutes} minutes: sink, scoring, {env_workers} workers, learner")
    supervisor = Supervisor(
        settings,
        minutes=minutes,
        live=sys.stderr.isatty(),
        console=err,
        services=[SINK, SCORING, ENV_WORKERS, replace(LEARNER, stop_timeout_s=LEARNER_STOP_S)],
    )
    summary = asyncio.run(supervisor.run())
    for error in summary.errors:
        err.print(f"[yellow]dojo up: {error}[/]")

    registry = AdapterRegistry(registry_root(settings.data_dir, base.source))
    versions = [m.version for m in registry.versions()]
    if not versions:
        raise RuntimeError(
            f"the learner published no version ({summary.errors}); logs in {summary.logs}"
        )
    # from here on the base policy acts with one adapter after another
    chosen_path, best, validation = select_adapter(
        base, registry, candidate_versions(versions, candidates), validation_specs, temperatures
    )
    chosen, chosen_adapter, temperature = best["version"], best["adapter"], best["temperature"]
    base.use_adapter(chosen_path)
    at_temperature(base, temperature)
    trained = evaluate_model(base, specs)
    # the same adapter as the workers ran it: what the choice of temperature added
    at_temperature(base, trained_at)
    sampled = trained if temperature == trained_at else evaluate_model(base, specs)
    at_temperature(base, temperature)
    base.use_adapter(registry.path(versions[-1]))
    newest = trained if base.version == chosen_adapter else evaluate_model(base, specs)
    manifest = registry.manifest(chosen)
    learner = learner_figures(settings)

    gap = senior["mean"] - random_["mean"]
    se_diff = math.sqrt(trained["se"] ** 2 + untrained["se"] ** 2)
    closes = trained["mean"] - random_["mean"]
    criteria = {
        "trained_minus_random_ge_half_senior_gap": closes >= 0.5 * gap,
        "trained_gt_untrained_plus_3se": trained["mean"] > untrained["mean"] + 3 * se_diff,
        "trained_ge_prompt_only": trained["mean"] >= prompt_only["mean"],
    }
    return {
        "preset": preset,
        "stage": stage,
        "minutes": minutes,
        "held_out_episodes": episodes,
        "held_out_seed_start": held_out_seed_start(stage),
        "policies": {
            "random": random_,
            "untrained": untrained,
            "prompt_only": prompt_only,
            "trained": {
                **trained,
                "policy_version": chosen,
                "adapter": chosen_adapter,
                "temperature": temperature,
                "updates": manifest.updates,
                "at_training_temperature": {
                    "temperature": trained_at,
                    "mean": sampled["mean"],
                    "se": sampled["se"],
                    "by_type": sampled["by_type"],
                },
            },
            "senior": senior,
        },
        "newest": {
            "policy_version": versions[-1],
            "temperature": temperature,
            "mean": newest["mean"],
            "se": newest["se"],
            "by_type": newest["by_type"],
        },
        "selection": {
            "validation_episodes": validation_episodes,
            "validation_seed_start": held_out_seed_start(stage, offset=VALIDATION_OFFSET),
            "temperatures": list(temperatures),
            "candidates": validation,
            "chosen": chosen_adapter,
            "chosen_temperature": temperature,
            "untrained_temperature": untrained_choice["temperature"],
        },
        "share_of_senior_gap_closed": closes / gap if gap else None,
        "trained_minus_untrained": trained["mean"] - untrained["mean"],
        "se_of_difference": se_diff,
        "trained_over_untrained": trained["mean"] / untrained["mean"]
        if untrained["mean"]
        else None,
        "criteria": criteria,
        "passed": all(criteria.values()),
        "system": {
            "elapsed_s": summary.elapsed_s,
            "episodes": summary.episodes,
            "events_stored": summary.events_stored,
            "episodes_per_s": summary.episodes_per_s,
            "status": summary.status,
            "errors": summary.errors,
            "logs": summary.logs,
        },
        "learner": learner,
    }


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"temperatures must be > 0, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="model preset or folder to train")
    parser.add_argument("--stage", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--minutes", type=float, default=8.0, help="how long dojo up trains")
    sizes = ", ".join(
        f"{name} {s.episodes}/{s.validation_episodes}/{s.candidates}/"
        + ",".join(f"{t:g}" for t in s.temperatures)
        for name, s in SIZES.items()
    )
    parser.add_argument(
        "--episodes",
        type=int,
        help="held-out episodes per policy (default: the preset's; episodes / validation "
        f"episodes / candidates / temperatures: {sizes}; other models as "
        f"{smollm2.PRESET_NAME})",
    )
    parser.add_argument("--candidates", type=int, help="versions compared on validation episodes")
    parser.add_argument(
        "--validation-episodes", type=int, help="validation episodes per candidate and temperature"
    )
    parser.add_argument(
        "--temperatures",
        type=_temperatures,
        help="sampling temperatures each model policy is validated at, comma-separated",
    )
    # one worker already plays faster than the learner trains on two shared cores; a
    # second one mostly produces trajectories that go stale, and takes the learner's CPU
    parser.add_argument("--env-workers", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, help="keep everything here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    defaults = default_sizes(args.preset)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dojo-bench-learning-"))
    try:
        result = run(
            args.preset,
            args.stage,
            args.minutes,
            defaults.episodes if args.episodes is None else args.episodes,
            args.env_workers,
            data_dir,
            candidates=defaults.candidates if args.candidates is None else args.candidates,
            validation_episodes=defaults.validation_episodes
            if args.validation_episodes is None
            else args.validation_episodes,
            temperatures=args.temperatures or defaults.temperatures,
        )
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        p = result["policies"]
        for name in ("random", "untrained", "prompt_only", "trained", "senior"):
            line = f"{name:>11}: {p[name]['mean']:.3f} ± {p[name]['se']:.3f}"
            if "temperature" in p[name]:
                line += f" at T={p[name]['temperature']:g}"
            print(line + (f" ({p[name]['adapter']})" if name == "trained" else ""))
        n = result["newest"]
        print(
            f"{'newest':>11}: {n['mean']:.3f} ± {n['se']:.3f} at T={n['temperature']:g} "
            f"({n['policy_version']})"
        )
        print(f"share of the senior gap closed: {result['share_of_senior_gap_closed']:.2f}")
        print(f"criteria: {result['criteria']}")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
