"""The solo protocol of SPEC §6: one candidate, one simulated human, one task, five phases.

Phases, in order, each played as the simulator's episode of that kind over the
task's scenario, with the simulated human (:mod:`dojo.eval.human`) as the
only counterpart:

============  ===========  ==============================================================
phase         episode      what carries over
============  ===========  ==============================================================
elicitation   E-1.1        which constraints were uncovered: only those reach the
                           acceptance criteria of every later phase
research      E-1.5        whether the answer the build follows is sound
planning      E-1.2        the plan, the chosen approach
execution     E-1.3        what was delivered, whether the planted failure was fixed
execution     E-2.3        the human's mid-task change of mind, and how it was handled
verification  E-1.4        the truth to find is what actually went wrong earlier
============  ===========  ==============================================================

The candidate acts through the same observations and move grammar as in
training (token-in/token-out for a language model). A human does not wait
forever: each phase has a budget of ``budget_factor`` × its minimum number of
actions (+2), after which the human moves on with what there is.

:class:`SoloEpisode` is a step machine (``start`` / ``step`` / ``trace``) so a
driver can advance many tasks in lockstep and batch a model's generation.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode
from dojo.env.episodes.decomposition import DecompositionEpisode
from dojo.env.episodes.elicitation import ElicitationEpisode
from dojo.env.episodes.implementation import UNITS_PER_CRITERION, ImplementationEpisode
from dojo.env.episodes.research import ResearchEpisode
from dojo.env.episodes.scope_change import ScopeChangeEpisode
from dojo.env.episodes.self_monitoring import SelfMonitoringEpisode
from dojo.env.protocol import EpisodeOutcome, EpisodeSpec, Observation, StepResult
from dojo.env.scenario import Scenario
from dojo.eval.human import SimulatedHuman
from dojo.eval.tasks import SoloTask

PHASES: tuple[str, ...] = ("elicitation", "research", "planning", "execution", "verification")
#: (phase, episode type) in the order they are played
PARTS: tuple[tuple[str, str], ...] = (
    ("elicitation", "E-1.1"),
    ("research", "E-1.5"),
    ("planning", "E-1.2"),
    ("execution", "E-1.3"),
    ("execution", "E-2.3"),
    ("verification", "E-1.4"),
)
DEFAULT_BUDGET_FACTOR = 2.0
_STEP_LIMIT = re.compile(r"of at most \d+\.")


class VerificationEpisode(SelfMonitoringEpisode):
    """E-1.4's moves and scoring, told as the check before handing the work over."""

    def brief(self) -> str:
        s = self.scenario.story
        return (
            f"The work on '{s.title}' is done as far as you know. Before "
            f"{self.lead.name} accepts it, check it and make the call: carry on and hand it "
            "over, change course, or get help."
        )


class PhaseRecord(BaseModel):
    """One played part of the protocol, as it happened."""

    model_config = ConfigDict(frozen=True)

    phase: str
    episode_type: str
    budget: int = Field(ge=1)
    exhausted: bool = Field(description="the human moved on: the budget ran out first")
    completions: tuple[str, ...]
    steps: tuple[StepResult, ...]
    outcome: EpisodeOutcome


class SoloFacts(BaseModel):
    """What the hidden truth says about the candidate's work, phase by phase.

    Filled as the phases end; a field stays ``None`` when its phase never
    produced it (it is the harness's record of the truth, not a score).
    """

    # elicitation
    ambiguity: float = 0.0
    questions: int = 0
    optimal_questions: int = 1
    constraints: list[str] = Field(default_factory=list)
    revealed: list[str] = Field(default_factory=list)
    # research
    lookups: int = 0
    fetched: int = 0
    research_gap: int = 0
    basis: str | None = None
    research_sound: bool = False
    # planning
    plan: list[str] = Field(default_factory=list)
    needed: list[str] = Field(default_factory=list)
    constraint_components: dict[str, str] = Field(default_factory=dict)
    chosen_approach: str | None = None
    best_approach: str = ""
    # execution
    criteria: list[str] = Field(default_factory=list)
    criterion_category: dict[str, str] = Field(default_factory=dict)
    delivered: list[str] = Field(default_factory=list)
    writes: list[str] = Field(default_factory=list)
    extras_written: int = 0
    failure_triggered: bool = False
    failure_fixed: bool = False
    failure_masked: bool = False
    checkpoint_verdict: str | None = None
    checkpoint_call: str | None = None
    # the change of mind
    change_option: str | None = None
    change_right_option: str = ""
    change_handled: bool = False
    # verification
    verification_issue: str = "none"
    verification_verdict: str = "continue"
    verification_found: bool = False
    verification_named: str | None = None
    verification_call: str | None = None


class SoloTrace(BaseModel):
    """A whole solo task as played: the parts in order and the truth about them."""

    model_config = ConfigDict(frozen=True)

    task: SoloTask
    policy_version: str
    phases: tuple[PhaseRecord, ...]
    facts: SoloFacts

    def part(self, episode_type: str) -> PhaseRecord | None:
        return next((p for p in self.phases if p.episode_type == episode_type), None)

    @property
    def actions(self) -> int:
        return sum(len(p.steps) for p in self.phases)

    @property
    def baseline_actions(self) -> int:
        return sum(p.outcome.baseline_actions for p in self.phases)


class SoloEpisode:
    """One task played through the five phases (see the module docstring)."""

    EPISODES: ClassVar[dict[str, type[BaseEpisode]]] = {
        "E-1.1": ElicitationEpisode,
        "E-1.5": ResearchEpisode,
        "E-1.2": DecompositionEpisode,
        "E-1.3": ImplementationEpisode,
        "E-2.3": ScopeChangeEpisode,
        "E-1.4": VerificationEpisode,
    }

    def __init__(
        self,
        task: SoloTask,
        *,
        policy_version: str = "unknown",
        budget_factor: float = DEFAULT_BUDGET_FACTOR,
    ) -> None:
        if budget_factor < 1.0:
            raise ValueError(f"budget_factor must be at least 1, not {budget_factor}")
        self.task = task
        self.policy_version = policy_version
        self.budget_factor = budget_factor
        self.human = SimulatedHuman(task.scenario)
        story = task.scenario.story
        self.facts = SoloFacts(
            ambiguity=story.ambiguity,
            optimal_questions=story.optimal_questions,
            constraints=[c.category for c in story.constraints],
            constraint_components={
                c.category: bank.CONSTRAINT_COMPONENTS[c.category] for c in story.constraints
            },
        )
        self.records: list[PhaseRecord] = []
        self.part_index = -1
        self.episode: BaseEpisode | None = None
        self.budget = 0
        self.completions: list[str] = []
        self.steps: list[StepResult] = []
        self.done = False

    # --- the step machine -------------------------------------------------------------

    def start(self) -> Observation:
        observation = self._next_part()
        assert observation is not None  # the first part always exists
        return observation

    def step(self, completion: str) -> Observation | None:
        """Play one decision; the next observation, or ``None`` when the task is over."""
        if self.done or self.episode is None:
            raise RuntimeError("the solo task is over")
        result = self.episode.step(completion)
        self.completions.append(completion)
        # the observation is rebuilt from state each step: keeping it would only cost memory
        self.steps.append(result.model_copy(update={"observation": None}))
        exhausted = not result.done and len(self.steps) >= self.budget
        if result.done or exhausted or result.observation is None:
            self._close_part(exhausted)
            return self._next_part()
        return self._present(result.observation)

    def trace(self) -> SoloTrace:
        if not self.done:
            raise RuntimeError("the solo task is not over yet")
        return SoloTrace(
            task=self.task,
            policy_version=self.policy_version,
            phases=tuple(self.records),
            facts=self.facts,
        )

    # --- parts ------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        return PARTS[self.part_index][0]

    def _next_part(self) -> Observation | None:
        self.part_index += 1
        if self.part_index >= len(PARTS):
            self.done = True
            self.episode = None
            return None
        _, episode_type = PARTS[self.part_index]
        spec = EpisodeSpec(
            episode_type=episode_type, seed=self.task.seed, difficulty=self.task.difficulty
        )
        self.episode = self.EPISODES[episode_type](spec, self._scenario(episode_type))
        baseline = self.episode.baseline_actions()
        self.budget = min(
            self.episode.step_cap, math.ceil(self.budget_factor * max(1, baseline)) + 2
        )
        self.completions = []
        self.steps = []
        observation, _ = self.episode.start()
        return self._present(observation)

    def _scenario(self, episode_type: str) -> Scenario:
        if episode_type in ("E-1.1", "E-1.5"):
            return self.human.scenario_for()
        briefed = self.human.briefed_story(self.facts.revealed)
        scenario = self.human.scenario_for(briefed)
        if episode_type == "E-1.4":
            truth = self.human.verification_truth(self._defects())
            self.facts.verification_issue = truth.issue
            self.facts.verification_verdict = truth.verdict
            scenario = scenario.model_copy(update={"checkpoint": truth})
        return scenario

    def _defects(self) -> set[str]:
        f = self.facts
        defects = set()
        if set(f.constraints) - set(f.revealed):
            defects.add("requirement_mismatch")
        flawed = f.chosen_approach is not None and f.chosen_approach != f.best_approach
        if (f.failure_triggered and not f.failure_fixed) or flawed:
            defects.add("approach_dead_end")
        if not f.research_sound:
            defects.add("missing_knowledge")
        return defects

    def _present(self, observation: Observation) -> Observation:
        """The episode's observation, told as solo work with this human, within the budget."""
        assert self.episode is not None
        _, _, rest = observation.text.partition("\n")
        index = PHASES.index(self.phase) + 1
        header = (
            f"Solo task {self.task.task_id}: you work alone with {self.human.name}, who owns "
            f"this feature. Phase {index} of {len(PHASES)}: {self.phase} "
            f"({self.episode.title}, episode {self.episode.episode_type})."
        )
        rest = _STEP_LIMIT.sub(f"of at most {self.budget}.", rest, count=1)
        return observation.model_copy(update={"text": f"{header}\n{rest}"})

    def _close_part(self, exhausted: bool) -> None:
        episode = self.episode
        assert episode is not None
        self.records.append(
            PhaseRecord(
                phase=self.phase,
                episode_type=episode.episode_type,
                budget=self.budget,
                exhausted=exhausted,
                completions=tuple(self.completions),
                steps=tuple(self.steps),
                outcome=episode.outcome(),
            )
        )
        self._record_facts(episode)

    def _record_facts(self, episode: BaseEpisode) -> None:
        f = self.facts
        e: Any = episode  # each branch reads its own episode type's state
        if isinstance(episode, ElicitationEpisode):
            f.questions = e.questions
            f.revealed = list(e.revealed)
        elif isinstance(episode, ResearchEpisode):
            f.lookups = e.lookups
            f.fetched = len(e.fetched)
            f.basis = e.basis
            basis = e.sources.get(e.basis) if e.basis is not None else None
            f.research_sound = basis is not None and basis.answers and not basis.outdated
            f.research_gap = sum(1 for s in e.gap.sources if not (s.answers and not s.outdated))
        elif isinstance(episode, DecompositionEpisode):
            f.plan = list(e.plan)
            f.needed = list(e.needed)
            f.chosen_approach = e.chosen
            f.best_approach = e.story.best_approach
        elif isinstance(episode, ImplementationEpisode):
            f.criteria = list(e.criteria)
            f.delivered = [c for c in e.criteria if e.progress[c] >= UNITS_PER_CRITERION]
            f.writes = list(e.writes)
            f.extras_written = sum(1 for w in e.writes if w in e.extras)
            f.failure_triggered = e.failing
            f.failure_fixed = e.fixed
            f.failure_masked = e.masked
            # a checkpoint that never came due was no decision to make
            f.checkpoint_verdict = None if e.checkpoint_state == "not_due" else e.truth.verdict
            f.checkpoint_call = e.checkpoint_call
            # constraint criteria follow the core ones, in the order elicitation uncovered them
            kept = [c for c in f.constraints if c in f.revealed]
            core = e.story.core_criteria
            f.criterion_category = {e.criteria[core + i]: c for i, c in enumerate(kept)}
        elif isinstance(episode, ScopeChangeEpisode):
            f.change_option = e.option
            f.change_right_option = e.right
            f.change_handled = e.option == e.right
        elif isinstance(episode, SelfMonitoringEpisode):
            f.verification_found = e.found
            f.verification_named = e.named
            f.verification_call = e.call
