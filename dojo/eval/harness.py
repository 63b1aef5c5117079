"""One evaluation: a subject policy and the baselines over a cadence's solo tasks.

Cadences (SPEC §6; task counts from Settings):

* ``quick`` — the first ``eval_quick_tasks`` tasks, primary metrics;
* ``full`` — ``eval_full_tasks`` tasks, every metric;
* ``comprehensive`` — ``eval_comprehensive_tasks`` tasks, every metric and the
  transfer scores against training.

Every report carries four baselines played on the same tasks: the base model
without adapter, the same base model with a detailed senior-behaviour prompt
(prompt-only), the scripted senior and the random policy. Model baselines share
the subject's weights (adapter switched off), so one model load serves all.
Results of baselines, which never change for a given base and task set, are
cached on the :class:`Evaluator`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.config import Settings
from dojo.env.reference import REFERENCE_POLICIES
from dojo.eval.drivers import LMSoloPolicy, ScriptedSoloPolicy, SoloPolicy, run_solo
from dojo.eval.metrics import (
    PRIMARY_NAMES,
    RISK,
    SECONDARY_NAMES,
    Metrics,
    aggregate,
    transfer_scores,
)
from dojo.eval.senior_prompt import SENIOR_BEHAVIOUR_PROMPT
from dojo.eval.solo import SoloTrace
from dojo.eval.tasks import SoloTask, select_tasks

if TYPE_CHECKING:  # torch loads only where a model is evaluated
    from dojo.policy.lm import LMPolicy

Cadence = Literal["quick", "full", "comprehensive"]
CADENCES: tuple[Cadence, ...] = ("quick", "full", "comprehensive")
BASELINES: tuple[str, ...] = ("base_model", "prompt_only", "scripted_senior", "random")


class EvalError(RuntimeError):
    """An evaluation that cannot run as asked (no adapter to load, bad cadence …)."""


def cadence_tasks(cadence: Cadence, settings: Settings) -> tuple[SoloTask, ...]:
    counts = {
        "quick": settings.eval.quick_tasks,
        "full": settings.eval.full_tasks,
        "comprehensive": settings.eval.comprehensive_tasks,
    }
    if cadence not in counts:
        raise EvalError(f"unknown cadence {cadence!r}; known: {', '.join(CADENCES)}")
    return select_tasks(counts[cadence], settings.eval.bank_size)


def reported_metrics(cadence: Cadence) -> tuple[str, ...]:
    """The metric names a report of this cadence holds."""
    if cadence == "quick":
        return (*PRIMARY_NAMES, RISK.name)
    return (*PRIMARY_NAMES, *SECONDARY_NAMES, RISK.name)


class EvalResult(BaseModel):
    """What an evaluation found; :func:`dojo.eval.report.to_event` makes it an EvalReport."""

    model_config = ConfigDict(frozen=True)

    cadence: Cadence
    policy_version: str
    stage: int = Field(ge=1, le=4)
    tasks: int
    task_ids: list[str]
    metrics: Metrics
    baselines: dict[str, Metrics]
    baseline_versions: dict[str, str]
    transfer: Metrics = Field(default_factory=dict)
    team: Metrics = Field(default_factory=dict)
    seconds: float


@dataclass
class Subject:
    """The policy under evaluation, and the language model its model baselines use."""

    policy: SoloPolicy
    lm: LMPolicy | None  # None: a scripted subject, its model baselines load on first need
    model: str

    @property
    def version(self) -> str:
        return self.policy.version


def _has_adapter(subject: Subject) -> bool:
    from peft import PeftModel

    return subject.lm is not None and isinstance(subject.lm.model, PeftModel)


def load_lm(model: str, adapter: Path | None, settings: Settings) -> LMPolicy:
    """An LMPolicy for evaluation: sampled like training, its free text capped."""
    import torch

    from dojo.policy import LMPolicy, SamplingSettings

    # more threads than the process's share of the cores makes every matmul spin-wait
    torch.set_num_threads(settings.torch_threads)

    return LMPolicy.load(
        model,
        adapter,
        settings=settings,
        sampling=SamplingSettings(max_text_tokens=settings.eval.max_text_tokens),
    )


def subject_from_settings(settings: Settings, adapter: str = "latest") -> Subject:
    """The policy ``dojo up`` trains, as the evaluator sees it.

    A scripted ``DOJO_POLICY`` is evaluated as itself (its model baselines use
    ``DOJO_EVAL_BASE_MODEL``, loaded on first need); a model preset is loaded with
    ``adapter`` (:func:`dojo.policy.registry.resolve_adapter`): ``latest`` before the
    learner published anything is the base model, and says so in its version.
    """
    if settings.policy.name in REFERENCE_POLICIES:
        return Subject(ScriptedSoloPolicy(settings.policy.name), None, settings.eval.base_model)
    return subject_for_cli(adapter, settings, settings.policy.name, none_yet_is_base=True)


def subject_for_cli(
    adapter: str,
    settings: Settings,
    model: str | None = None,
    *,
    none_yet_is_base: bool = False,
) -> Subject:
    """A model with ``adapter`` (``latest``, ``none``, ``vNNNNNN[-averaged]`` or a folder).

    ``none_yet_is_base``: ``latest`` with nothing published for this base is the base
    model instead of an error. Versions that exist but cannot be read or loaded are
    always errors.
    """
    from dojo.policy.presets import resolve_model
    from dojo.policy.registry import AdapterNotFound, resolve_adapter

    name = model or (
        settings.policy.name
        if settings.policy.name not in REFERENCE_POLICIES
        else settings.eval.base_model
    )
    source = resolve_model(name, settings.data_dir)
    try:
        path = resolve_adapter(adapter, settings.data_dir, source)
    except AdapterNotFound as exc:
        # "latest" found nothing only when no version of this base was published
        if not (none_yet_is_base and adapter == "latest"):
            raise EvalError(str(exc)) from None
        path = None
    lm = load_lm(name, path, settings)
    return Subject(LMSoloPolicy(lm, version=lm.version), lm, name)


def scripted_subject(name: str, settings: Settings, model: str | None = None) -> Subject:
    """A scripted reference policy as the subject; its model baselines use ``model``."""
    if name not in REFERENCE_POLICIES:
        raise EvalError(
            f"unknown reference policy {name!r}; known: {', '.join(REFERENCE_POLICIES)}"
        )
    return Subject(ScriptedSoloPolicy(name), None, model or settings.eval.base_model)


Progress = Callable[[str, int, int], None]


@dataclass
class Evaluator:
    """Runs evaluations; keeps baseline results, which do not change, between reports."""

    settings: Settings
    _cache: dict[tuple[str, str, tuple[str, ...], float], list[SoloTrace]] = field(
        default_factory=dict
    )
    _base_lm: LMPolicy | None = None

    def _base(self, subject: Subject) -> LMPolicy:
        if subject.lm is not None:
            return subject.lm
        if self._base_lm is None:
            self._base_lm = load_lm(subject.model, None, self.settings)
        return self._base_lm

    def baselines(self, subject: Subject) -> dict[str, SoloPolicy]:
        lm = self._base(subject)
        base_version = f"{lm.source.name}-base"
        return {
            "base_model": LMSoloPolicy(lm, version=base_version, without_adapter=True),
            "prompt_only": LMSoloPolicy(
                lm,
                version=f"{base_version}+senior-prompt",
                instruction=SENIOR_BEHAVIOUR_PROMPT,
                without_adapter=True,
            ),
            "scripted_senior": ScriptedSoloPolicy("senior"),
            "random": ScriptedSoloPolicy("random"),
        }

    def play(
        self,
        policy: SoloPolicy,
        tasks: tuple[SoloTask, ...],
        label: str,
        progress: Progress | None = None,
    ) -> list[SoloTrace]:
        # a version names weights only within its base's registry
        base = policy.lm.source.base_id if isinstance(policy, LMSoloPolicy) else ""
        key = (
            base,
            policy.version,
            tuple(t.task_id for t in tasks),
            self.settings.eval.phase_budget,
        )
        cached = self._cache.get(key)
        if cached is not None:
            if progress is not None:
                progress(label, len(tasks), len(tasks))
            return cached

        def done(n: int) -> None:
            if progress is not None:
                progress(label, n, len(tasks))

        traces = run_solo(
            tasks, policy, budget_factor=self.settings.eval.phase_budget, on_task_done=done
        )
        self._cache[key] = traces
        return traces

    def _play_all(
        self,
        policies: Mapping[str, SoloPolicy],
        tasks: tuple[SoloTask, ...],
        *,
        shared_adapter: bool,
        progress: Progress | None,
    ) -> dict[str, list[SoloTrace]]:
        """Every policy over the tasks. Model policies run side by side (each decoding on
        its own thread over the same read-only weights) unless some switch the subject's
        adapter off: that switch is the model's, not the thread's."""
        models: dict[str, SoloPolicy] = {}
        for name, policy in policies.items():
            # the same version plays the same way: once (the rest read the cache)
            if isinstance(policy, LMSoloPolicy) and policy.version not in {
                m.version for m in models.values()
            }:
                models[name] = policy
        workers = 1 if shared_adapter else min(self.settings.eval.workers, len(models))
        played: dict[str, list[SoloTrace]] = {}
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="eval") as pool:
                futures = {
                    n: pool.submit(self.play, p, tasks, n, progress) for n, p in models.items()
                }
                played = {n: f.result() for n, f in futures.items()}
        for name, policy in policies.items():
            if name not in played:
                played[name] = self.play(policy, tasks, name, progress)
        return {name: played[name] for name in policies}

    def evaluate(
        self,
        subject: Subject,
        cadence: Cadence,
        *,
        stage: int | None = None,
        team: Mapping[str, float | None] | None = None,
        progress: Progress | None = None,
    ) -> EvalResult:
        """Play the cadence's tasks with the subject and every baseline; measure them all.

        ``team`` (for a comprehensive report): the subject's team metrics from
        training; without it every transfer score is ``None``.
        """
        started = time.perf_counter()
        tasks = cadence_tasks(cadence, self.settings)
        names = reported_metrics(cadence)
        secondary = cadence != "quick"

        def measure(traces: list[SoloTrace]) -> Metrics:
            measured = aggregate(traces, secondary=secondary)
            return {n: measured.get(n) for n in names}

        policies = {"subject": subject.policy, **self.baselines(subject)}
        traces = self._play_all(
            policies, tasks, shared_adapter=_has_adapter(subject), progress=progress
        )
        metrics = measure(traces.pop("subject"))
        baselines = {name: measure(played) for name, played in traces.items()}
        versions = {name: policies[name].version for name in traces}
        transfer: Metrics = {}
        if cadence == "comprehensive":
            transfer = transfer_scores(metrics, team or {})
        return EvalResult(
            cadence=cadence,
            policy_version=subject.version,
            stage=stage or self.settings.stage,
            tasks=len(tasks),
            task_ids=[t.task_id for t in tasks],
            metrics=metrics,
            baselines=baselines,
            baseline_versions=versions,
            transfer=transfer,
            team=dict(team or {}),
            seconds=round(time.perf_counter() - started, 3),
        )
