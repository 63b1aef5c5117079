"""Solo evaluation (SPEC §6): a task bank, a simulated human, five phases, every metric.

Entry points: :class:`Evaluator` (one report: a subject and the four baselines
over a cadence's tasks), :func:`run_solo` (any policy over any tasks),
:func:`task_bank`, :func:`aggregate` / :func:`task_metrics` (metrics from
traces), :func:`team_metrics` and :func:`transfer_scores` (transfer).
No Kafka here: the evaluator service (:mod:`dojo.workers.evaluator`) runs the
cadences on the live stream.
"""

from dojo.eval.drivers import LMSoloPolicy, ScriptedSoloPolicy, SoloPolicy, run_solo
from dojo.eval.harness import (
    BASELINES,
    CADENCES,
    Cadence,
    EvalError,
    EvalResult,
    Evaluator,
    Subject,
    cadence_tasks,
    scripted_subject,
    subject_for_cli,
    subject_from_settings,
)
from dojo.eval.human import SimulatedHuman
from dojo.eval.metrics import (
    METRICS,
    PRIMARY_NAMES,
    SECONDARY_NAMES,
    aggregate,
    task_metrics,
    team_measurements,
    transfer_scores,
)
from dojo.eval.solo import PHASES, SoloEpisode, SoloTrace
from dojo.eval.tasks import SoloTask, select_tasks, task_bank
from dojo.eval.transfer import team_metrics

__all__ = [
    "BASELINES",
    "CADENCES",
    "METRICS",
    "PHASES",
    "PRIMARY_NAMES",
    "SECONDARY_NAMES",
    "Cadence",
    "EvalError",
    "EvalResult",
    "Evaluator",
    "LMSoloPolicy",
    "ScriptedSoloPolicy",
    "SimulatedHuman",
    "SoloEpisode",
    "SoloPolicy",
    "SoloTask",
    "SoloTrace",
    "Subject",
    "aggregate",
    "cadence_tasks",
    "run_solo",
    "scripted_subject",
    "select_tasks",
    "subject_for_cli",
    "subject_from_settings",
    "task_bank",
    "task_metrics",
    "team_measurements",
    "team_metrics",
    "transfer_scores",
]
