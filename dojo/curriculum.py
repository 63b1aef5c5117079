"""The four-stage curriculum of SPEC §5: what to train on next, from what was learned.

=====  ================  =====================================  ====================================
stage  environment       director (``Discrete(6)``) injects      graduation (mean of the last N)
=====  ================  =====================================  ====================================
1      stable team       nothing (no-op)                         elicitation ≥ .70, decomposition ≥
                                                                 .65, self-correction ≥ .50
2      disturbances      chaos: disturbances, scope changes      triage accuracy ≥ .70, velocity
                                                                 drop < 30 %
3      cross-team        + borrowing (an agent's role swapped)   < 3 actions to become productive,
                                                                 orientation ≥ .70
4      team change       + attrition and new hires               no regression on stage-1 metrics,
                                                                 velocity dip < 20 %
=====  ================  =====================================  ====================================

Measurements are what the system produces: each completed training episode
yields the metrics its type exercises (:func:`episode_measurements`), computed
from the quantities that episode carries — its behaviour metrics, outcome
signals and per-decision signals — by the same functions the solo evaluation
uses (:mod:`dojo.eval.metrics`), so graduation, the solo metrics and the
transfer scores read a behaviour the same way:

* ``elicitation_quality`` (E-1.1) and ``decomposition_accuracy`` (E-1.2): the
  solo functions of the episode's behaviour metrics.
* ``self_correction_rate`` (E-1.3, E-1.4): the solo "own mistakes caught and
  corrected / mistakes that surfaced", one chance per episode where one surfaced
  (:func:`dojo.eval.metrics.correction_chance`): E-1.3's planted failure once it
  triggered, fixed at its root cause; E-1.4's planted issue, found, named and
  answered with the right call. Not B-11 only once the failure was seen, nor
  E-1.4's B-10 without the call, as before.
* ``triage_accuracy`` (E-2.1): B-13, SPEC §2's triage-accuracy proxy (no solo
  counterpart).
* ``actions_to_productive`` (E-3.1): the 1-based position of the first productive
  decision in B-20's sense (a needed question, a relevant read, a test run one
  can make, a first write where the change goes), from the decision signals.
* ``orientation`` (E-3.1, :func:`orientation`): the mean of SPEC §2's three
  orientation proxies — B-19 style consistency, B-20 productive actions in the
  first five, and B-18 "< 2 convention violations" as 1 or 0.
* Velocity drop and dip compare an episode's velocity under disturbance (E-2.x)
  or team change (E-4.x) with the mean velocity of the last window of stable
  stage-1 work (E-1.x), the ``velocity_reference``.

Solo metrics with no stage criterion (sufficiency error, research effectiveness,
adaptation, intent match) are measured the same way, for the transfer scores
(:func:`dojo.eval.transfer.team_metrics`).

Each stage is judged on its own episodes: a measurement counts towards the
current stage only when its episode was dealt for that stage (``spec.stage``;
one still in flight from the previous stage does not), and the windows start
empty at every stage change — so stage 4's "no regression on stage-1 metrics"
reads stage-1 metrics measured in stage 4, which is why stage 4's director
deals stable stage-1 work (action 0) a third of the time. Only the stable
velocity reference carries over. A criterion is met only when its metric has
a full window of measurements and their mean passes: a metric with no (or too
few) measurements is never met. A stage change is a
:class:`~dojo.events.StageChanged` event carrying the values it was decided on.

:mod:`dojo.curriculum_check` plays the director's episodes with a scripted
reference policy through the real simulator and this curriculum, in process,
and reports when each stage graduates.

Ablations (:func:`run_ablation`): the same candidate trained through stage 1
only, 1+2, 1+2+3 or all four, each arm's team measurements and solo
evaluation side by side.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.env import registry
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec
from dojo.env.registry import LiveTable
from dojo.eval.metrics import Metrics, mean_of, team_measurements
from dojo.events import StageChanged, Stamper

Op = Literal[">=", ">", "<", "<="]
DEFAULT_WINDOW = 20
#: how far below its stage-1 graduation value a metric may fall in stage 4
REGRESSION_TOLERANCE = 0.05
#: a productive first action in a foreign codebase scores this on B-20
_PRODUCTIVE_SIGNALS = ("B-20/relevance", "B-20/time_to_productive")
#: a stage's velocity family: stable work is the reference the others drop from
_VELOCITY_FAMILIES = {1: "stable", 2: "disturbed", 4: "changed"}
#: windows that carry over a stage change: the stable work every velocity drop is
#: measured against
CARRIED = ("velocity_reference",)


@dataclass(frozen=True)
class Criterion:
    """``metric op threshold`` over the mean of the last window of measurements.

    ``no_regression``: the threshold is the metric's mean when stage 1 graduated
    (less the tolerance); before that is known, stage 1's own threshold.
    """

    metric: str
    op: Op
    threshold: float
    no_regression: bool = False

    def met(self, value: float | None, threshold: float | None = None) -> bool:
        if value is None:
            return False
        bar = self.threshold if threshold is None else threshold
        return {
            ">=": value >= bar,
            ">": value > bar,
            "<": value < bar,
            "<=": value <= bar,
        }[self.op]

    def describe(self) -> str:
        if self.no_regression:
            return f"{self.metric} no regression (>= stage-1 graduation - {REGRESSION_TOLERANCE})"
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    environment: str
    behaviours: str
    criteria: tuple[Criterion, ...]
    #: director action -> weight (SPEC §7: 0 no-op, 1 disturbance, 2 swap role,
    #: 3 modify backlog, 4 team composition, 5 sprint parameters)
    director: Mapping[int, float]


STAGE1_CRITERIA = (
    Criterion("elicitation_quality", ">=", 0.70),
    Criterion("decomposition_accuracy", ">=", 0.65),
    Criterion("self_correction_rate", ">=", 0.50),
)

STAGES: dict[int, Stage] = {
    1: Stage(
        1,
        "stable team",
        "one team, no disruptions",
        "elicitation, decomposition, self-monitoring, checkpoint dialogue",
        STAGE1_CRITERIA,
        {0: 1.0},
    ),
    2: Stage(
        2,
        "disturbances",
        "one team + chaos injection",
        "triage, replanning, communication under pressure, recovery",
        (Criterion("triage_accuracy", ">=", 0.70), Criterion("velocity_drop", "<", 0.30)),
        {0: 0.3, 1: 0.45, 3: 0.15, 5: 0.1},
    ),
    3: Stage(
        3,
        "cross-team",
        "several teams + agent borrowing",
        "rapid orientation, context switching, convention respect",
        (Criterion("actions_to_productive", "<", 3.0), Criterion("orientation", ">=", 0.70)),
        {0: 0.2, 1: 0.2, 2: 0.45, 3: 0.1, 5: 0.05},
    ),
    4: Stage(
        4,
        "team change",
        "attrition + new hires",
        "knowledge transfer, onboarding, compensating for loss",
        (
            *(Criterion(c.metric, c.op, c.threshold, no_regression=True) for c in STAGE1_CRITERIA),
            Criterion("velocity_dip", "<", 0.20),
        ),
        # stable work a third of the time: the no-regression criteria need stage-1
        # metrics measured in this stage (an E-1.1 about one episode in fourteen)
        {0: 0.35, 1: 0.1, 2: 0.1, 3: 0.05, 4: 0.4},
    ),
}
LAST_STAGE = max(STAGES)


class CriterionStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    criterion: str
    metric: str
    value: float | None = Field(description="mean of the window; None: too few measurements")
    measurements: int
    threshold: float
    met: bool


class StageStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: int
    name: str
    window: int
    criteria: list[CriterionStatus]
    complete: bool

    @property
    def values(self) -> dict[str, float | None]:
        return {c.metric: c.value for c in self.criteria}


# --- measurements ---------------------------------------------------------------------


def actions_to_productive(decision_signals: Sequence[Mapping[str, float]]) -> float:
    """1-based position of the first productive decision; never productive: one past the end."""
    for i, signals in enumerate(decision_signals, start=1):
        if any(signals.get(key, 0.0) >= 1.0 for key in _PRODUCTIVE_SIGNALS):
            return float(i)
    return float(len(decision_signals) + 1)


def orientation(behaviour: Mapping[str, float]) -> float | None:
    """An E-3.1's orientation: the mean of B-19 (style consistency), B-20 (productive
    actions in the first five) and B-18's "< 2 convention violations" as 1 or 0."""
    b18 = behaviour.get("B-18")
    return mean_of(
        [behaviour.get("B-19"), behaviour.get("B-20"), None if b18 is None else float(b18 < 2)]
    )


def measured_from_decisions() -> frozenset[str]:
    """The episode types measured from their per-decision signals too (in step order):
    those whose registry record has decision metrics."""
    return registry.reading_decisions()


def episode_measurements(
    episode_type: str,
    behaviour: Mapping[str, float],
    signals: Mapping[str, float],
    decision_signals: Sequence[Mapping[str, float]] = (),
) -> Metrics:
    """What one training episode measures for the curriculum (absent: not exercised).

    ``decision_signals``: its decisions' signals in step order, needed by the types
    :func:`measured_from_decisions` names. Velocity enters as ``velocity@<family>`` (stable
    stage-1 work, disturbances, team change); the drop and dip are computed against
    the stable reference by the :class:`Curriculum`, which holds it.
    """
    measured: Metrics = dict(team_measurements(episode_type, behaviour, signals, decision_signals))
    if episode_type == "E-2.1":
        measured["triage_accuracy"] = behaviour.get("B-13")
    if episode_type == "E-3.1":
        measured["actions_to_productive"] = actions_to_productive(decision_signals)
        measured["orientation"] = orientation(behaviour)
    # a type this process has not registered has no stage to read: no velocity measure
    record = registry.find(episode_type)
    family = None if record is None else _VELOCITY_FAMILIES.get(record.stage)
    if family is not None and "velocity" in signals:
        measured[f"velocity@{family}"] = signals["velocity"]
    return measured


@dataclass
class StageChange:
    from_stage: int
    to_stage: int
    episodes: int
    criteria: dict[str, float | None]
    window: int
    reason: str

    def event(self, stamper: Stamper, run: str = "") -> StageChanged:
        return stamper.make(
            StageChanged,
            (run, self.from_stage, self.to_stage, self.episodes),
            from_stage=self.from_stage,
            to_stage=self.to_stage,
            episodes=self.episodes,
            criteria=self.criteria,
            window=self.window,
            reason=self.reason,
        )


@dataclass
class Curriculum:
    """The stage machine: measurements in, stage changes out (no I/O)."""

    stage: int = 1
    window: int = DEFAULT_WINDOW
    complete: bool = False
    episodes: int = 0
    measurements: dict[str, deque[float]] = field(default_factory=dict)
    #: stage-1 criterion values when stage 1 graduated (the stage-4 no-regression bar)
    graduation: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}, not {self.stage}")
        if self.window < 1:
            raise ValueError("window must be at least 1")

    def record(self, metric: str, value: float | None, stage: int | None = None) -> None:
        """One measurement; ``None`` (not measurable) is not a measurement and is dropped.

        ``stage``: the stage its episode was dealt for; one dealt for another stage (still
        in flight when the stage changed) says nothing about this one and is dropped.
        None: this stage's.
        """
        if value is None or (stage is not None and stage != self.stage):
            return
        self.measurements.setdefault(metric, deque(maxlen=self.window)).append(float(value))

    def record_all(self, measured: Mapping[str, float | None], stage: int | None = None) -> None:
        for metric, value in measured.items():
            if metric.startswith("velocity@"):
                self._record_velocity(metric.split("@", 1)[1], value, stage)
            else:
                self.record(metric, value, stage)

    def _record_velocity(self, family: str, value: float | None, stage: int | None) -> None:
        if value is None:
            return
        if family == "stable":
            # stable work is the reference whichever stage dealt it
            self.record("velocity_reference", value)
            return
        reference = self.measurements.get("velocity_reference")
        if not reference:
            return  # no stable reference yet: a drop cannot be measured
        base = fmean(reference)
        if base <= 0:
            return
        drop = max(0.0, 1.0 - value / base)
        self.record("velocity_drop" if family == "disturbed" else "velocity_dip", drop, stage)

    def observe_episode(
        self,
        episode_type: str,
        behaviour: Mapping[str, float],
        signals: Mapping[str, float],
        decision_signals: Sequence[Mapping[str, float]] = (),
        stage: int | None = None,
    ) -> StageChange | None:
        """Count and measure one completed training episode (dealt for ``stage``; None:
        this one); the stage change it causes."""
        self.episodes += 1
        self.record_all(
            episode_measurements(episode_type, behaviour, signals, decision_signals), stage
        )
        return self.advance()

    def _enter(self, stage: int) -> None:
        """Move to ``stage``: its criteria are judged on its own episodes, from empty windows."""
        self.stage = stage
        self.measurements = {k: v for k, v in self.measurements.items() if k in CARRIED}

    def mean(self, metric: str) -> float | None:
        """Mean of the last window of measurements; ``None`` until the window is full."""
        values = self.measurements.get(metric)
        if values is None or len(values) < self.window:
            return None
        return fmean(values)

    def _threshold(self, criterion: Criterion) -> float:
        if criterion.no_regression and criterion.metric in self.graduation:
            return self.graduation[criterion.metric] - REGRESSION_TOLERANCE
        return criterion.threshold

    def status(self, stage: int | None = None) -> StageStatus:
        number = stage or self.stage
        spec = STAGES[number]
        rows = []
        for c in spec.criteria:
            value = self.mean(c.metric)
            threshold = self._threshold(c)
            rows.append(
                CriterionStatus(
                    criterion=c.describe(),
                    metric=c.metric,
                    value=value,
                    measurements=len(self.measurements.get(c.metric, ())),
                    threshold=threshold,
                    met=c.met(value, threshold),
                )
            )
        return StageStatus(
            stage=number,
            name=spec.name,
            window=self.window,
            criteria=rows,
            complete=all(r.met for r in rows),
        )

    def advance(self) -> StageChange | None:
        """Move on when every criterion of the current stage is met (stage 4: done)."""
        if self.complete:
            return None
        status = self.status()
        if not status.complete:
            return None
        if self.stage == 1:
            self.graduation = {r.metric: r.value for r in status.criteria if r.value is not None}
        change = StageChange(
            from_stage=self.stage,
            to_stage=min(self.stage + 1, LAST_STAGE),
            episodes=self.episodes,
            criteria=status.values,
            window=self.window,
            reason=(
                f"every stage-{self.stage} criterion met over the last {self.window} "
                "measurements: " + "; ".join(r.criterion for r in status.criteria)
            ),
        )
        if self.stage == LAST_STAGE:
            self.complete = True
        else:
            self._enter(self.stage + 1)
        return change

    def apply(self, event: StageChanged) -> None:
        """Replay a stage change read back from the stream."""
        self.moved(event.from_stage, event.to_stage, event.criteria)

    def moved(self, from_stage: int, to_stage: int, criteria: Mapping[str, float | None]) -> None:
        """A stage change that already happened (from the log or the store)."""
        if from_stage == 1 and to_stage == 2:
            self.graduation = {k: v for k, v in criteria.items() if v is not None}
        if from_stage == to_stage == LAST_STAGE:
            self.complete = True
        if to_stage > self.stage:
            self._enter(to_stage)


# --- from the store -----------------------------------------------------------------------

_EPISODES_SQL = """
SELECT episode_id, episode_type, stage, behaviour_metrics, outcome
FROM episodes
WHERE completed_at IS NOT NULL AND seed < ?
ORDER BY completed_at DESC
LIMIT ?
"""
_SIGNALS_SQL = """
SELECT episode_id, signals FROM decisions
WHERE episode_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY episode_id, step
"""
_STAGE_CHANGES_SQL = """
SELECT from_stage, to_stage, criteria
FROM stage_changes ORDER BY produced_at, episodes
"""


def _floats(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): float(v) for k, v in dict(value or {}).items() if v is not None}


def curriculum_from_store(
    reader: Any, *, stage: int = 1, window: int = DEFAULT_WINDOW, episodes: int = 5000
) -> Curriculum:
    """The curriculum as the store shows it: its stage changes, and the measurements of
    the last ``episodes`` completed training episodes (oldest first)."""
    curriculum = Curriculum(stage=stage, window=window)
    for row in reader.query(_STAGE_CHANGES_SQL).to_pylist():
        criteria = row["criteria"]
        criteria = json.loads(criteria) if isinstance(criteria, str) else dict(criteria or {})
        curriculum.moved(row["from_stage"], row["to_stage"], criteria)
    rows = reader.query(_EPISODES_SQL, [HELD_OUT_SEED_BASE, episodes]).to_pylist()[::-1]
    signals = decision_signals(
        reader, [r["episode_id"] for r in rows if r["episode_type"] in measured_from_decisions()]
    )
    for row in rows:
        curriculum.episodes += 1
        curriculum.record_all(
            episode_measurements(
                row["episode_type"],
                _floats(row["behaviour_metrics"]),
                _floats(row["outcome"]),
                signals.get(row["episode_id"], []),
            ),
            row["stage"],
        )
    return curriculum


def decision_signals(reader: Any, episode_ids: Sequence[str]) -> dict[str, list[dict[str, float]]]:
    """The stored decisions' signals of ``episode_ids``, each episode's in step order."""
    signals: dict[str, list[dict[str, float]]] = {}
    if episode_ids:
        for row in reader.query(_SIGNALS_SQL, [list(episode_ids)]).to_pylist():
            signals.setdefault(row["episode_id"], []).append(_floats(row["signals"]))
    return signals


# --- the director -----------------------------------------------------------------------


class StageDirector:
    """Draws the ``Discrete(6)`` director's actions for a stage, seeded."""

    def __init__(self, stage: int, seed: int = 0) -> None:
        self.stage = STAGES[stage]
        self.rng = random.Random(f"director:{stage}:{seed}")
        self.actions = sorted(self.stage.director)
        self.weights = [self.stage.director[a] for a in self.actions]

    def action(self) -> int:
        return self.rng.choices(self.actions, weights=self.weights)[0]


#: what each director action puts in front of the candidate, from the registry's records
#: (each type's ``director`` actions): the curriculum deals from it
#: (:func:`director_specs`) and dojo/Team-v0 plays it (:class:`dojo.gym.team_env.TeamEnv`)
DIRECTED: Mapping[int, tuple[str, ...]] = LiveTable(registry.directed)
SPRINT_PRESSURE = 0.2


#: the probabilities of dealing each of an action's episode types (dojo.workers.focus)
TypeWeights = Callable[[Sequence[str]], Sequence[float]]


def director_specs(
    stage: int, seed: int, weights: TypeWeights | None = None
) -> Iterator[EpisodeSpec]:
    """An endless, seeded stream of training episodes as the stage's director deals them.

    ``weights``: asked at each episode for how to deal the types the director's
    action offers; None: uniformly.
    """
    director = StageDirector(stage, seed)
    rng = random.Random(f"director-specs:{stage}:{seed}")
    while True:
        action = director.action()
        difficulty = rng.uniform(0.1, 0.9)
        if action == 5:
            difficulty = min(1.0, difficulty + SPRINT_PRESSURE)
        offered = DIRECTED[action]
        episode_type = (
            rng.choice(offered)
            if weights is None
            else rng.choices(offered, weights=weights(offered))[0]
        )
        yield EpisodeSpec(
            episode_type=episode_type,
            seed=rng.randrange(HELD_OUT_SEED_BASE),
            difficulty=round(difficulty, 3),
            stage=stage,
        )


# --- ablations --------------------------------------------------------------------------

ABLATION_ARMS: dict[str, tuple[int, ...]] = {
    "stage 1 only": (1,),
    "stages 1+2": (1, 2),
    "stages 1+2+3": (1, 2, 3),
    "all stages": (1, 2, 3, 4),
}


class ArmResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    arm: str
    stages: list[int]
    episodes: int
    graduated: list[int] = Field(description="stages whose criteria were met in this arm")
    team: dict[str, float | None] = Field(description="mean of each measured metric's window")
    solo: Metrics
    policy_version: str


#: Called after every director episode with its info; returns the policy to continue with.
Learner = Callable[[dict[str, Any]], None]


def run_arm(
    arm: str,
    stages: Sequence[int],
    candidate: Any,
    *,
    episodes_per_stage: int,
    evaluate: Callable[[Any], tuple[str, Metrics]],
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
    learn: Learner | None = None,
) -> ArmResult:
    """Train (``learn``, if given) through ``stages`` in the director env, then evaluate.

    ``candidate`` is what :class:`dojo.gym.team_env.TeamEnv` accepts (a reference
    policy name or an object with ``decide``); ``evaluate(candidate)`` returns its
    policy version and solo metrics.
    """
    from dojo.gym.team_env import TeamEnv

    curriculum = Curriculum(stage=stages[0], window=window)
    # every metric's last window over the whole arm (the curriculum's restart at a stage change)
    tally = Curriculum(stage=stages[0], window=window)
    graduated: list[int] = []
    for stage in stages:
        if stage != curriculum.stage:
            curriculum._enter(stage)
        director = StageDirector(stage, seed)
        env = TeamEnv(candidate=candidate, sprint_length=max(1, episodes_per_stage))
        env.reset(seed=seed * 10 + stage)
        for _ in range(episodes_per_stage):
            _, _, terminated, truncated, info = env.step(director.action())
            if learn is not None:
                learn(info)
            measured = episode_measurements(
                info["episode_type"],
                info.get("behaviour_metrics", {}),
                info.get("outcome", {}),
                info.get("decision_signals", ()),
            )
            tally.record_all(measured)
            curriculum.episodes += 1
            curriculum.record_all(measured)
            change = curriculum.advance()
            if change is not None and change.from_stage not in graduated:
                graduated.append(change.from_stage)
            curriculum.stage = stage  # an ablation arm fixes its own schedule
            if terminated or truncated:
                env.reset()
    team = {
        metric: fmean(values) if values else None
        for metric, values in sorted(tally.measurements.items())
    }
    version, solo = evaluate(candidate)
    return ArmResult(
        arm=arm,
        stages=list(stages),
        episodes=curriculum.episodes,
        graduated=graduated,
        team=team,
        solo=solo,
        policy_version=version,
    )


def run_ablation(
    candidate_factory: Callable[[], Any],
    *,
    episodes_per_stage: int,
    evaluate: Callable[[Any], tuple[str, Metrics]],
    arms: Mapping[str, Sequence[int]] = ABLATION_ARMS,
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
    learner_factory: Callable[[Any], Learner | None] | None = None,
) -> list[ArmResult]:
    """Every arm from a fresh candidate, the same seeds, the same evaluation."""
    results = []
    for arm, stages in arms.items():
        candidate = candidate_factory()
        learn = learner_factory(candidate) if learner_factory is not None else None
        results.append(
            run_arm(
                arm,
                stages,
                candidate,
                episodes_per_stage=episodes_per_stage,
                evaluate=evaluate,
                window=window,
                seed=seed,
                learn=learn,
            )
        )
    return results
