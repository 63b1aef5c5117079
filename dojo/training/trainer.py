"""The learner's state machine without Kafka: load or resume, train on trajectories, checkpoint, publish.

:class:`Trainer` owns the trainable policy (the base model with its LoRA
adapter), the optimizer and scheduler, the value table and the counters. The
streaming loop (:mod:`dojo.training.learner`) feeds it batches of consumed
trajectories and sends the events it hands back; tests and benches drive it
directly.

Order of effects, so that a kill at any point loses nothing and repeats nothing:

1. ``train`` — one PPO update on the batch (in memory only);
2. ``checkpoint`` — adapter, its Polyak average, optimizer, scheduler, offsets
   after the batch, and an outbox with the events describing the update(s) and
   any version due;
3. ``publish_pending`` — the adapter and its average go into the registry
   (atomically);
4. the loop sends the outbox and only then commits the consumer offsets.

A restart resumes from the newest checkpoint, finishes a publication it may
have missed (the registry is checked first, so a version is never published
twice) and sends the outbox again (event ids are derived, so the store keeps
one copy).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from dojo.config import Settings
from dojo.events import (
    AnyEvent,
    LearnerUpdated,
    PolicyVersionPublished,
    Stamper,
    TrajectoryScored,
    encode,
)
from dojo.policy import AdapterRegistry, LMPolicy, LoraSettings, resolve_model
from dojo.policy.averaging import WeightAverage
from dojo.policy.presets import ModelSource, Preset, presets_own
from dojo.policy.registry import registry_root
from dojo.training.advantages import compute_advantages
from dojo.training.checkpoint import (
    ADAPTER,
    LearnerState,
    PendingPublish,
    latest_checkpoint,
    read_average,
    read_optim,
    read_state,
    write_checkpoint,
)
from dojo.training.ppo import PPOConfig, UpdateStats, ppo_update
from dojo.training.samples import (
    DecisionSample,
    UntrainableTrajectoryError,
    decision_samples,
    version_number,
)
from dojo.training.staleness import split_by_lag


def learning_rate(settings: Settings, preset: Preset | None = None) -> float:
    """``DOJO_LEARNER_LR``, else the preset's own."""
    return presets_own(settings.learner.lr, preset, "learner_lr")


def ppo_config(settings: Settings, preset: Preset | None = None) -> PPOConfig:
    """PPO's numbers from the settings; an unset KL coefficient or epoch count is the
    preset's own."""
    return PPOConfig(
        epochs=presets_own(settings.learner.epochs, preset, "learner_epochs"),
        minibatch_size=settings.learner.minibatch_size,
        clip_coef=settings.learner.clip_coef,
        kl_coef=presets_own(settings.learner.kl_coef, preset, "kl_coef"),
        entropy_coef=settings.learner.entropy_coef,
        max_grad_norm=settings.learner.max_grad_norm,
        temperature=settings.policy.temperature,
    )


#: how many consumed trajectory ids a checkpoint remembers (a redelivery comes soon after)
CONSUMED_IDS_KEPT = 20_000


@dataclass
class UpdateResult:
    """What one call of :meth:`Trainer.train` did."""

    update: int
    trained: list[str] = field(default_factory=list)  # trajectory event ids
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: delivered again after an earlier update consumed them: not trained twice
    repeated: list[str] = field(default_factory=list)
    stats: UpdateStats | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def consumed(self) -> int:
        return len(self.trained) + len(self.dropped) + len(self.skipped)


class Trainer:
    """A trainable policy and everything needed to continue training it after a restart."""

    def __init__(
        self,
        settings: Settings,
        policy: LMPolicy,
        state: LearnerState,
        optim_state: dict[str, object] | None,
        stamper: Stamper,
        average_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.state = state
        self.stamper = stamper
        self.config = ppo_config(settings, policy.source.preset)
        self.registry = AdapterRegistry(registry_root(settings.data_dir, policy.source))
        self.checkpoint_root = checkpoint_root(settings.data_dir, policy.source.base_id)
        params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=learning_rate(settings, policy.source.preset), weight_decay=0.0
        )
        warmup = settings.learner.warmup_steps
        self.scheduler = LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0
        )
        if optim_state is not None:
            self.optimizer.load_state_dict(optim_state["optimizer"])  # type: ignore[arg-type]
            if optim_state.get("scheduler") is not None:
                self.scheduler.load_state_dict(optim_state["scheduler"])  # type: ignore[arg-type]
        # a checkpoint without an average (averaging newly switched on) starts it afresh
        self.average = (
            WeightAverage(policy.model, settings.learner.average_decay, average_state)
            if settings.learner.average_decay > 0
            else None
        )
        self.rng = random.Random(settings.learner.seed)
        if state.rng_state is not None:
            self.rng.setstate(_rng_tuple(state.rng_state))
        self._pending_events: list[str] = []  # the next checkpoint's outbox
        self._offsets: dict[str, int] = {}  # consumed since the last checkpoint
        self._carried_dropped: list[str] = []  # consumed, not trained, no update yet
        self._carried_skipped: list[str] = []
        self._since_checkpoint = 0
        self._last_metrics: dict[str, float] = {}
        self._consumed = set(state.consumed_ids)

    # --- loading ---------------------------------------------------------------------

    @classmethod
    def load(cls, settings: Settings, stamper: Stamper | None = None) -> Trainer:
        """Resume from the newest checkpoint of ``settings.policy.name``'s base, or start fresh."""
        stamper = stamper or Stamper("learner")
        lora = LoraSettings(r=settings.learner.lora_r, alpha=settings.learner.lora_alpha)
        probe_source = _source(settings)
        folder = latest_checkpoint(checkpoint_root(settings.data_dir, probe_source.base_id))
        policy = LMPolicy.load(
            settings.policy.name,
            adapter=folder / ADAPTER if folder is not None else None,
            trainable=True,
            qlora=settings.learner.qlora,
            lora=lora,
            settings=settings,
        )
        if folder is None:
            state = LearnerState(
                lineage=uuid.uuid4().hex[:12],
                base_model=policy.source.base_id,
                policy_version=f"{policy.source.name}-base",
            )
            optim_state = None
            average_state = None
        else:
            state = read_state(folder)
            optim_state = read_optim(folder)
            average_state = read_average(folder)
        trainer = cls(settings, policy, state, optim_state, stamper, average_state)
        trainer.policy.version = state.policy_version
        return trainer

    # --- training --------------------------------------------------------------------

    def train(self, trajectories: Sequence[TrajectoryScored]) -> UpdateResult:
        """One PPO update on ``trajectories`` (the stale and the untrainable set aside)."""
        started = time.perf_counter()
        result = UpdateResult(update=self.state.updates + 1)
        trainable: list[TrajectoryScored] = []
        samples_by_trajectory: dict[str, list[DecisionSample]] = {}
        for t in trajectories:
            if str(t.event_id) in self._consumed:
                result.repeated.append(str(t.event_id))
                continue
            try:
                version_number(t.policy_version)
                samples_by_trajectory[str(t.event_id)] = decision_samples(
                    t, self.settings.learner.gamma
                )
                trainable.append(t)
            except UntrainableTrajectoryError:
                result.skipped.append(str(t.event_id))
        split = split_by_lag(
            trainable, self.state.version_number, self.settings.learner.max_policy_lag
        )
        result.dropped = [str(t.event_id) for t in split.dropped]
        result.trained = [str(t.event_id) for t in split.kept]
        self._remember([*result.trained, *result.dropped, *result.skipped])
        self.state.trajectories_dropped += len(result.dropped)
        self.state.trajectories_skipped += len(result.skipped)
        if not split.kept:
            # nothing to learn from: no update; the next update's event names them
            self._carried_dropped += result.dropped
            self._carried_skipped += result.skipped
            return result
        result.dropped = self._carried_dropped + result.dropped
        result.skipped = self._carried_skipped + result.skipped
        self._carried_dropped, self._carried_skipped = [], []

        samples = [s for t in split.kept for s in samples_by_trajectory[str(t.event_id)]]
        samples = compute_advantages(
            samples,
            self.state.value_table,
            gamma=self.settings.learner.gamma,
            lam=self.settings.learner.gae_lambda,
        )
        stats = ppo_update(
            self.policy.model,
            self.optimizer,
            self.scheduler,
            samples,
            self.config,
            pad_token_id=self.policy.tokens.pad_token_id,
            rng=self.rng,
        )
        if self.average is not None:
            self.average.update()
        self.state.updates += 1
        self.state.optimizer_steps += stats.optimizer_steps
        self.state.trajectories_trained += len(split.kept)
        self.state.rng_state = _rng_list(self.rng.getstate())
        self._since_checkpoint += 1
        result.stats = stats
        rewards = [t.episode_reward for t in split.kept]
        result.metrics = {
            **{k: float(v) for k, v in stats.model_dump().items() if v is not None},
            "reward_mean": statistics.fmean(rewards),
            "reward_std": statistics.pstdev(rewards),
            "decision_reward_mean": statistics.fmean(s.reward for s in samples),
            "policy_lag": statistics.fmean(split.lags),
            "policy_lag_max": float(max(split.lags)),
            "episode_length": statistics.fmean(len(t.decisions) for t in split.kept),
            "learning_rate": float(self.scheduler.get_last_lr()[0]),
            "trajectories": float(len(split.kept)),
            "dropped": float(len(result.dropped)),
            "skipped": float(len(result.skipped)),
            "update_seconds": time.perf_counter() - started,
        }
        return result

    def _remember(self, ids: list[str]) -> None:
        self._consumed.update(ids)
        self.state.consumed_ids += ids
        excess = len(self.state.consumed_ids) - CONSUMED_IDS_KEPT
        if excess > 0:
            self._consumed.difference_update(self.state.consumed_ids[:excess])
            del self.state.consumed_ids[:excess]

    def record(self, result: UpdateResult, extra_metrics: dict[str, float] | None = None) -> None:
        """Queue the LearnerUpdated event of ``result`` for the next checkpoint's outbox."""
        if result.stats is None:
            return
        metrics = {**result.metrics, **(extra_metrics or {})}
        due = (
            self.state.updates - self.state.published_at_update
            >= self.settings.learner.publish_every
        )
        event = self.stamper.make(
            LearnerUpdated,
            (self.state.lineage, result.update),
            lineage=self.state.lineage,
            update=result.update,
            base_model=self.state.base_model,
            policy_version=self.state.policy_version,
            trajectory_ids=result.trained,
            dropped_ids=result.dropped,
            skipped_ids=result.skipped,
            decisions=result.stats.decisions,
            metrics=metrics,
        )
        self._pending_events.append(encode(event).decode())
        self._last_metrics = metrics
        if due:  # (re)named for the newest weights: the next checkpoint holds them
            self.state.pending_publish = self._pending_publish(metrics)

    def queue(self, event: AnyEvent) -> None:
        """Send ``event`` with the next checkpoint's outbox (e.g. a dead letter)."""
        self._pending_events.append(encode(event).decode())

    def note_offsets(self, offsets: dict[str, int]) -> None:
        """The next offsets per partition after what was just consumed."""
        self._offsets.update(offsets)

    def finish(self) -> bool:
        """Before a clean stop: owe a checkpoint and a version for unsaved, unpublished updates.

        Returns whether anything is left to settle.
        """
        if self.state.updates > self.state.published_at_update and (
            self.state.pending_publish is None
        ):
            self.state.pending_publish = self._pending_publish(self._last_metrics)
            self._since_checkpoint = max(self._since_checkpoint, 1)
        return self._since_checkpoint > 0 or self.state.pending_publish is not None

    def checkpoint_due(self) -> bool:
        return self._since_checkpoint > 0 and (
            self._since_checkpoint >= self.settings.learner.checkpoint_every
            or self.state.pending_publish is not None
        )

    def checkpoint(self) -> Path:
        """Write the checkpoint: weights, optimizer, offsets after the batch, the outbox."""
        self.state.offsets = {**self.state.offsets, **self._offsets}
        self._offsets = {}
        self.state.outbox = list(self._pending_events)
        folder = write_checkpoint(
            self.checkpoint_root,
            self.state,
            self.policy.model,
            self.optimizer,
            self.scheduler,
            None if self.average is None else self.average.state_dict(),
        )
        self._pending_events = []
        self._since_checkpoint = 0
        return folder

    # --- publishing ------------------------------------------------------------------

    def publish_pending(self) -> PolicyVersionPublished | None:
        """Publish the version the newest checkpoint owes, once; its event goes to the outbox.

        A version already in the registry for this update and parent (a restart
        after the rename but before the event went out) is not published again.
        """
        pending = self.state.pending_publish
        if pending is None:
            return None
        # this lineage publishes its updates in order: a version for them is its newest
        manifest = self.registry.latest(lineage=self.state.lineage)
        if (
            manifest is None
            or manifest.updates != pending.updates
            or manifest.base_model != self.state.base_model
        ):
            manifest = self.registry.publish(
                self.policy.model,  # type: ignore[arg-type]
                base_model=self.state.base_model,
                parent_version=pending.parent_version,
                updates=pending.updates,
                metrics=pending.metrics,
                lineage=self.state.lineage,
                average=self.average,
                type_returns=pending.type_returns,
            )
        event = self.stamper.make(
            PolicyVersionPublished,
            (self.state.base_model, manifest.version),
            policy_version=manifest.version,
            parent_version=pending.parent_version,
            base_model=self.state.base_model,
            adapter_path=str(self.registry.path(manifest.version)),
            updates=pending.updates,
            trajectories=pending.trajectories,
            metrics=pending.metrics,
        )
        self.state.policy_version = manifest.version
        self.state.version_number = version_number(manifest.version)
        self.state.published_at_update = pending.updates
        self.state.pending_publish = None
        self.policy.version = manifest.version
        if self.settings.learner.keep_versions:
            # bounded disk for an always-on learner: a version is megabytes, one per update
            self.registry.prune(self.settings.learner.keep_versions)
        return event

    def _pending_publish(self, metrics: dict[str, float]) -> PendingPublish:
        """The version owed for the newest weights, named with what it was trained to."""
        return PendingPublish(
            updates=self.state.updates,
            parent_version=self._parent(),
            trajectories=self.state.trajectories_trained,
            metrics=metrics,
            type_returns=self.state.value_table.episode_returns(),
        )

    def _parent(self) -> str | None:
        return self.state.policy_version if self.state.version_number > 0 else None


def checkpoint_root(data_dir: Path, base_id: str) -> Path:
    return Path(data_dir) / "learner" / _safe(base_id) / "checkpoints"


def _safe(name: str) -> str:
    return name.replace("/", "--")


def _source(settings: Settings) -> ModelSource:
    return resolve_model(settings.policy.name, settings.data_dir)


def _rng_list(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_tuple(state: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
