"""E-1.2 Decomposition: turn a clarified story into an ordered, connected plan.

Hidden truth: which offered components the story really needs (the others are
gold plating), the riskiest component (its note may understate it; a decoy's
note may overstate another), the real dependencies and their kinds, and which
of three approaches survives contact with this codebase.

Consequences:

* ``create_task`` appends to the plan; the plan's order is the build order.
  An unneeded component costs velocity (``gold_plating``); a duplicate costs time.
* ``identify_risk`` is scored against the truth; ``spike`` (2 h) tells whether a
  component is really risky. If the riskiest task sits in the second half of the
  plan it fails late (two extra iterations), halved by an earlier spike. Naming a
  risk again with no new spike since the last call changes nothing and scores
  nothing (``redundant_call``): otherwise naming every component in turn would
  collect the right one's score by enumeration.
* ``add_dependency`` is a true or a false positive, and typed right or wrong;
  every real dependency left unnamed blocks someone for half a day.
* ``propose_approach`` / ``compare_approaches``: comparing at least two makes the
  tech lead name each proposed approach's flaw. ``choose_approach`` of a flawed
  one means rework when the flaw bites. A choice made again with nothing new on the
  table since the last one (no new proposal, no comparison) is a second guess: the
  team keeps the first and it scores nothing (``redundant_call``), for the same
  reason.
* ``signal_plan_complete`` (``plan_to_execute``) is correct when every needed
  component is planned and an approach is chosen.
"""

from __future__ import annotations

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

TASK_COST = 0.25
SPIKE_COST = 2.0
NICE_TO_HAVE = "nice to have; some users asked for it"


def planning_moves(
    components: tuple[str, ...], approaches: tuple[str, ...], *, counterpart: str
) -> tuple[MoveSpec, ...]:
    """The planning moves over these components and approaches: the simulator's episode and
    dojo chat's planning phase offer the same grammar (the one the model was trained on)."""
    return (
        move(
            "create_task",
            "add a task for one component to the end of the plan",
            component=components,
        ),
        move("identify_risk", "name the component you think is riskiest", component=components),
        move("spike", "spend 2 h probing how risky a component really is", component=components),
        move(
            "add_dependency",
            "task cannot finish before needs; kind says why",
            task=components,
            needs=components,
            kind=bank.DEPENDENCY_KINDS,
        ),
        move("propose_approach", "put an approach on the table", approach=approaches),
        move("compare_approaches", f"weigh the proposed approaches with {counterpart}"),
        move("choose_approach", "commit to one approach", approach=approaches),
        move("signal_plan_complete", "end planning: the plan is ready to execute"),
    )


class DecompositionEpisode(BaseEpisode):
    episode_type = "E-1.2"
    title = "Decomposition"
    phases = ("planning",)
    step_cap = 45

    def setup(self) -> None:
        story = self.scenario.story
        self.story = story
        self.lead = self.scenario.team.by_role("tech_lead")
        self.needed = [t.component for t in story.tasks]
        self.offered = sorted([*self.needed, *story.extras])
        self.true_deps = {(d.after, d.before): d.kind for d in story.dependencies}
        self.plan: list[str] = []
        self.risk_named: list[str] = []
        self.spiked: list[str] = []
        self.named_deps: dict[tuple[str, str], str] = {}
        self.proposed: list[str] = []
        self.compared_at = 0
        self.chosen: str | None = None
        self.signalled = False
        comps = tuple(self.offered)
        self.move_set = planning_moves(comps, story.approaches, counterpart="the tech lead")

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        s = self.story
        notes = {t.component: t.note for t in s.tasks}
        components = "; ".join(f"{c} ({notes.get(c, NICE_TO_HAVE)})" for c in self.offered)
        criteria = "; ".join(s.acceptance)
        return (
            f"Plan story '{s.title}' ({s.points} points). Acceptance: {criteria}. "
            f"Components on the table: {components}. "
            f"Approaches: {', '.join(s.approaches)}."
        )

    def _lead(self, text: str) -> str:
        return f"{self.lead.name} (tech lead): {text}"

    # --- moves ---------------------------------------------------------------------

    def on_create_task(self, m: Move) -> Effect:
        comp = m.args["component"]
        effect = Effect()
        if comp in self.plan:
            effect.add(
                "duplicate_task", f"{comp} is already task {self.plan.index(comp) + 1}.", TASK_COST
            )
            return effect.score("B-07", completability=0.0)
        self.plan.append(comp)
        self.learn(f"task {len(self.plan)}: {comp}")
        if comp in self.needed:
            effect.add("task_created", f"Task {len(self.plan)}: {comp}.", TASK_COST)
            effect.score("B-07", completability=1.0).score("B-25", excess_code_penalty=0.0)
        else:
            effect.add(
                "gold_plating",
                f"Task {len(self.plan)}: {comp}; no criterion asks for it.",
                TASK_COST,
            )
            effect.score("B-07", completability=0.0).score("B-25", excess_code_penalty=1.0)
        return effect

    def on_identify_risk(self, m: Move) -> Effect:
        comp = m.args["component"]
        named = self.risk_named[-1] if self.risk_named else ""  # read on a repeat only
        text = f"No new spike since you named {named} as the risk."
        # the evidence behind a risk call: the spikes made
        repeated = self.repeated_call("risk", len(self.spiked), "redundant_call", text)
        if repeated is not None:
            return repeated
        effect = Effect()
        first = comp not in self.risk_named
        self.risk_named.append(comp)
        self.learn(f"risk named: {comp}")
        effect.add("risk_identified", f"You flag {comp} as the main risk.", 0.1)
        return effect.score("B-05", risk_prediction=float(first and comp == self.story.risky))

    def on_spike(self, m: Move) -> Effect:
        comp = m.args["component"]
        effect = Effect()
        if comp in self.spiked:
            effect.add("redundant_spike", f"You already probed {comp}.", SPIKE_COST / 2)
            return effect.score("B-05", spike=0.0)
        self.spiked.append(comp)
        risky = comp == self.story.risky
        verdict = "high risk: it is the hard part" if risky else "straightforward"
        self.learn(f"spike ({comp}): {verdict}")
        effect.add("spike_result", f"Spike on {comp}: {verdict}.", SPIKE_COST)
        return effect.score("B-05", spike=1.0 if risky else 0.2)

    def on_add_dependency(self, m: Move) -> Effect:
        task, needs, kind = m.args["task"], m.args["needs"], m.args["kind"]
        effect = Effect()
        key = (task, needs)
        if key in self.named_deps:
            effect.add("duplicate_dependency", f"{task} -> {needs} is already noted.", 0.1)
            return effect.score("B-06", true_positive_rate=0.0)
        self.named_deps[key] = kind
        self.learn(f"dependency: {task} needs {needs} ({kind})")
        truth = self.true_deps.get(key)
        if truth is None:
            effect.add("false_dependency", self._lead(f"{task} does not really need {needs}."), 0.1)
            return effect.score("B-06", false_positive_penalty=1.0)
        effect.add("dependency_confirmed", self._lead(f"Right, {task} needs {needs}."), 0.1)
        return effect.score(
            "B-06",
            true_positive_rate=1.0,
            false_positive_penalty=0.0,
            dependency_typing=float(kind == truth),
        )

    def on_propose_approach(self, m: Move) -> Effect:
        approach = m.args["approach"]
        effect = Effect()
        if approach in self.proposed:
            effect.add("duplicate_approach", f"{approach} is already on the table.", 0.1)
            return effect.score("B-08", approaches_weighed=0.0)
        self.proposed.append(approach)
        self.learn(f"proposed: {approach}")
        effect.add("approach_proposed", f"{approach} is on the table.", 0.25)
        return effect.score("B-08", approaches_weighed=min(len(self.proposed), 3) / 3)

    def on_compare_approaches(self, m: Move) -> Effect:
        effect = Effect()
        if len(self.proposed) < 2 or len(self.proposed) == self.compared_at:
            effect.add("nothing_to_compare", self._lead("There is nothing new to compare."), 0.25)
            return effect.score("B-08", approaches_weighed=0.0)
        self.compared_at = len(self.proposed)
        for a in self.proposed:
            # the approach comes first, as in a flaw: a compact prompt keeps a fact's
            # first words only (dojo.policy.prompt), and the choice must copy this name
            if a == self.story.best_approach:
                self.learn(f"sound ({a}): no blocker found")
            else:
                self.learn(f"flaw ({a}): {bank.APPROACH_FLAWS[a]}")
        effect.add("approaches_compared", self._lead("Here is what I know about each."), 0.5)
        return effect.score("B-08", approaches_weighed=min(len(self.proposed), 3) / 3)

    def on_choose_approach(self, m: Move) -> Effect:
        approach = m.args["approach"]
        text = self._lead(f"Nothing new since we chose {self.chosen}; we stay with it.")
        # the evidence behind a choice grows with each new proposal and each comparison
        evidence = len(self.proposed) + self.compared_at
        repeated = self.repeated_call("approach", evidence, "redundant_call", text)
        if repeated is not None:
            return repeated
        self.chosen = approach
        self.learn(f"chosen approach: {approach}")
        effect = Effect().add("approach_chosen", f"The team goes with {approach}.", 0.1)
        return effect.score("B-08", approach_survived=float(approach == self.story.best_approach))

    def on_signal_plan_complete(self, m: Move) -> Effect:
        self.signalled = True
        missing = [c for c in self.needed if c not in self.plan]
        correct = not missing and self.chosen is not None
        effect = Effect(transition="plan_to_execute", transition_correct=correct, done=True)
        effect.add("plan_complete", "Execution starts on your plan.")
        if self._late_failure():
            effect.add("late_failure", f"{self.story.risky} failed late in the sprint.")
        if missing:
            effect.add("missing_task", f"Unplanned work surfaced: {', '.join(missing)}.")
        effect.score(
            "B-05",
            riskiest_task_position=1.0 - self._risk_position(),
            spike=float(self.story.risky in self.spiked),
        )
        effect.score("B-07", tasks_per_point=self._granularity())
        real = len(self.true_deps)
        effect.score("B-06", true_positive_rate=ratio(self._true_positives(), real))
        effect.score(
            "B-25",
            acceptance_criteria_coverage=ratio(len(self.needed) - len(missing), len(self.needed)),
        )
        return effect

    # --- measurement ---------------------------------------------------------------

    def _risk_position(self) -> float:
        """Position of the riskiest task / task count (1 when it is not planned)."""
        if self.story.risky not in self.plan:
            return 1.0
        return self.plan.index(self.story.risky) / len(self.plan)

    def _late_failure(self) -> bool:
        return self._risk_position() >= 0.5

    def _granularity(self) -> float:
        per_point = len(self.plan) / self.story.points
        if 0.5 <= per_point <= 2.0:
            return 1.0
        return max(0.0, 1.0 - abs(per_point - (0.5 if per_point < 0.5 else 2.0)))

    def _true_positives(self) -> int:
        return sum(1 for k in self.named_deps if k in self.true_deps)

    def outcome_signals(self) -> dict[str, float]:
        missing = sum(1 for c in self.needed if c not in self.plan)
        extras = sum(1 for c in self.plan if c not in self.needed)
        unnamed = len(self.true_deps) - self._true_positives()
        late = self._late_failure()
        late_cost = 0.0 if not late else (0.5 if self.story.risky in self.spiked else 1.0)
        flawed = self.chosen != self.story.best_approach
        iterations = 2 * late_cost + (1.0 if flawed else 0.0) + missing
        signals = {
            "story_accepted": max(0.0, 1.0 - 0.3 * missing - (0.3 if flawed else 0.0)),
            "tests_passing": max(0.0, 1.0 - 0.15 * missing - 0.2 * late_cost),
            "low_iteration_count": 1.0 / (1.0 + iterations),
            "velocity": max(
                0.0,
                1.0 - 0.1 * extras - 0.05 * unnamed - 0.25 * late_cost - (0.2 if flawed else 0.0),
            ),
            "low_rework": max(
                0.0, 1.0 - 0.4 * (1.0 if flawed else 0.0) - 0.3 * late_cost - 0.1 * missing
            ),
            "coverage": ratio(len(self.needed) - missing, len(self.needed)),
        }
        if not self.signalled:
            signals["velocity"] *= 0.5
        return signals

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {
            "B-05": self._risk_position(),
            "B-06": ratio(self._true_positives(), len(self.true_deps)),
            "B-07": len(self.plan) / self.story.points,
            "B-08": float(len(self.proposed) > 1 and self.chosen == self.story.best_approach),
        }
        if self.plan:
            metrics["B-25"] = sum(1 for c in self.plan if c in self.needed) / len(self.plan)
        return metrics

    def baseline_actions(self) -> int:
        # every task and dependency, a risk call and a spike, two proposals, a
        # comparison, a choice, the signal
        return len(self.needed) + len(self.true_deps) + 7
