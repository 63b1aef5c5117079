"""Does the learner train on an accelerator, and how much faster than on the CPU?

    python -m bench.learner_device --json

1. The untrained tiny policy plays ``--episodes`` stage-1 episodes on the CPU and
   each is scored into the TrajectoryScored the learner consumes
   (:func:`dojo.training.local.score_events`, no Kafka).
2. For every device (``cpu``, and ``cuda`` when torch sees one) and mode (LoRA, and
   QLoRA where bitsandbytes is installed), a fresh :class:`~dojo.training.trainer.Trainer`
   runs ``--updates`` PPO updates over those trajectories, ``--batch`` per update,
   after one untimed warm-up update.
3. Checks per run: every loss is finite, the adapter's weights changed, the base's
   weights are bit-identical. For the accelerator runs also: the adapter it saved
   loads on the CPU, where environment workers run, and gives the same logits as on
   the accelerator (the workers hot-load what a GPU learner publishes).

Speed is decisions trained per second; the ratios are against the CPU run of the
same mode, measured in the same run. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from dojo.config import Settings
from dojo.env import registry
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec
from dojo.events import Stamper, TrajectoryScored
from dojo.policy import LMPolicy
from dojo.policy.lora import save_adapter
from dojo.training.local import score_events
from dojo.training.trainer import Trainer
from dojo.workers.actors import LMActor
from dojo.workers.rollout import rollout

err = Console(stderr=True)
#: logits of the same adapter on two devices agree to float32 noise, not bit for bit
LOGIT_TOLERANCE = 1e-3


def play(data_dir: Path, episodes: int) -> list[TrajectoryScored]:
    settings = Settings(policy="tiny", data_dir=data_dir, policy_device="cpu")
    actor = LMActor(LMPolicy.load("tiny", settings=settings))
    stamper = Stamper("bench-learner-device")
    # training seeds only; dojo.workers.schedule would do the same, but it imports the
    # store (DuckDB), which an accelerator machine need not have for this bench
    rng = random.Random(11)
    types = registry.codes(stage=1)
    specs = [
        EpisodeSpec(
            episode_type=rng.choice(types),
            seed=rng.randrange(HELD_OUT_SEED_BASE),
            difficulty=round(rng.uniform(0.1, 0.9), 3),
            stage=1,
        )
        for _ in range(episodes)
    ]
    return [
        score_events(rollout(spec, f"ep-{i:05d}", actor, stamper, timed=False), stamper)
        for i, spec in enumerate(specs)
    ]


def devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def qlora_available() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def _snapshot(model: torch.nn.Module, trainable: bool) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().to("cpu", copy=True)
        for name, p in model.named_parameters()
        if p.requires_grad == trainable
    }


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_run(
    data_dir: Path,
    device: str,
    qlora: bool,
    trajectories: list[TrajectoryScored],
    updates: int,
    batch: int,
) -> dict[str, Any]:
    settings = Settings(
        policy="tiny",
        data_dir=data_dir,
        policy_device=device,
        learner_qlora=qlora,
        learner_batch_size=batch,
        # every trajectory was played by the base: none may be dropped as stale here
        learner_max_policy_lag=10_000,
    )
    trainer = Trainer.load(settings, Stamper(f"bench-{device}"))
    model = trainer.policy.model
    base_before = _snapshot(model, trainable=False)
    adapter_before = _snapshot(model, trainable=True)
    # a fresh id per use: the trainer refuses a trajectory it has already trained
    cycle = itertools.cycle(trajectories)
    batches = (
        [
            t.model_copy(update={"event_id": f"{t.event_id}-{n}"})
            for t in itertools.islice(cycle, batch)
        ]
        for n in itertools.count()
    )
    trainer.train(next(batches))  # warm-up: kernels, allocator, optimizer state
    losses: list[float] = []
    decisions = 0
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(updates):
        result = trainer.train(next(batches))
        assert result.stats is not None
        losses.append(result.stats.loss)
        decisions += result.stats.decisions
    _synchronize(device)
    elapsed = time.perf_counter() - started

    base_after = _snapshot(model, trainable=False)
    adapter_after = _snapshot(model, trainable=True)
    checks = {
        "losses_finite": all(math.isfinite(x) for x in losses),
        "adapter_changed": any(
            not torch.equal(adapter_before[n], adapter_after[n]) for n in adapter_before
        ),
        "base_bit_identical": all(torch.equal(base_before[n], base_after[n]) for n in base_before),
    }
    if device != "cpu":
        checks["reloads_on_cpu"] = _reloads_on_cpu(trainer, data_dir, trajectories[0])
    return {
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "mode": "qlora" if qlora else "lora",
        "updates": updates,
        "decisions": decisions,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(decisions / elapsed, 1),
        "loss_first": round(losses[0], 5),
        "loss_last": round(losses[-1], 5),
        "checks": checks,
    }


def _reloads_on_cpu(trainer: Trainer, data_dir: Path, trajectory: TrajectoryScored) -> bool:
    """The adapter saved on the accelerator gives the same logits in a CPU worker."""
    folder = data_dir / "saved-adapter"
    model: Any = trainer.policy.model  # a PeftModel
    save_adapter(model, folder)  # as the learner saves its checkpoints and versions
    ids = torch.tensor([trajectory.decisions[0].prompt_token_ids])
    model.eval()
    with torch.no_grad():
        here = model(input_ids=ids.to(next(model.parameters()).device)).logits.float().cpu()
    settings = Settings(policy="tiny", data_dir=data_dir, policy_device="cpu")
    worker = LMPolicy.load("tiny", adapter=folder, settings=settings)
    with torch.no_grad():
        there = worker.model(input_ids=ids).logits.float()
    if trainer.settings.learner.qlora:
        # the learner's 4-bit base is not the worker's full-precision one: only the
        # shapes and the adapter's effect can be compared, not the numbers
        return here.shape == there.shape and bool(torch.isfinite(there).all())
    return bool((here - there).abs().max() <= LOGIT_TOLERANCE)


def run(episodes: int, updates: int, batch: int, root: Path) -> dict[str, Any]:
    err.print(f"playing {episodes} episodes with the untrained tiny policy (CPU)")
    trajectories = play(root / "play", episodes)
    modes = [False, True] if qlora_available() else [False]
    runs = []
    for qlora, device in itertools.product(modes, devices()):
        err.print(f"{'QLoRA' if qlora else 'LoRA'} on {device}: {updates} updates")
        folder = root / f"{device}-{'qlora' if qlora else 'lora'}"
        shutil.copytree(root / "play" / "models", folder / "models")  # the base, built once
        runs.append(train_run(folder, device, qlora, trajectories, updates, batch))
    for r in runs:
        cpu = next(c for c in runs if c["mode"] == r["mode"] and c["device"] == "cpu")
        r["speed_vs_cpu"] = round(r["decisions_per_s"] / cpu["decisions_per_s"], 2)
    return {
        "episodes": episodes,
        "updates": updates,
        "batch": batch,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "runs": runs,
        "passed": all(all(r["checks"].values()) for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=64, help="episodes to train on")
    parser.add_argument("--updates", type=int, default=20, help="timed PPO updates per run")
    parser.add_argument("--batch", type=int, default=16, help="trajectories per update")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dojo-bench-learner-device-"))
    try:
        result = run(args.episodes, args.updates, args.batch, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for r in result["runs"]:
            print(
                f"{r['mode']:>5} on {r['device_name']}: {r['decisions_per_s']:.0f} decisions/s "
                f"({r['speed_vs_cpu']}x cpu), checks {r['checks']}"
            )
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
