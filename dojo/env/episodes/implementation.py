"""E-1.3 Implementation: build the story, notice what breaks, checkpoint honestly.

Hidden truth: a planted failure (one of five root causes) that breaks the tests
once the second criterion is done; the checkpoint verdict (continue / pivot /
escalate) with its evidence; the module's conventions; which criteria are core.

Consequences:

* ``write_code`` moves a criterion forward (two units each). Writing before
  reading the module breaks its conventions (rework); the wrong file is
  misplaced code; an extra nobody asked for is excess code.
* The failure is silent until ``run_tests``. ``read_error`` shows where it
  points; ``apply_fix`` with the root cause fixes it, a symptom fix (retry, skip,
  widen tolerance) only masks it — it comes back in review — and a wrong cause
  changes nothing. Two fixes without a test run in between are not a single change.
* Half-way the tech lead asks for a checkpoint with evidence. The right call keeps
  the sprint; the wrong one costs: continuing a dead approach or staying blocked
  doubles the cost of every later write and fails acceptance; a needless pivot or
  escalation wastes hours. Ignoring it for three decisions counts as "continue".
* ``commit`` delivers; everything is measured then.
"""

from __future__ import annotations

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec
from dojo.env.protocol import Transition

UNITS_PER_CRITERION = 2
WRITE_COST = 1.0
TRIGGER_AFTER = 2
CHECKPOINT_PATIENCE = 3
VERDICT_MOVES: dict[str, Transition] = {
    "checkpoint_continue": "continue",
    "checkpoint_pivot": "pivot",
    "checkpoint_escalate": "escalate",
}


class ImplementationEpisode(BaseEpisode):
    episode_type = "E-1.3"
    title = "Implementation"
    phases = ("development",)
    step_cap = 70

    def setup(self) -> None:
        sc = self.scenario
        self.story = sc.story
        self.codebase = sc.team.codebase
        self.lead = sc.team.by_role("tech_lead")
        self.truth = sc.checkpoint
        self.cause = sc.failure
        n = len(self.story.acceptance)
        self.criteria = [f"ac{i + 1}" for i in range(n)]
        self.core = set(self.criteria[: self.story.core_criteria])
        self.text = dict(zip(self.criteria, self.story.acceptance, strict=True))
        self.display = list(self.criteria)
        self.rng.shuffle(self.display)
        self.extras = {f"x{i + 1}": item for i, item in enumerate(self.story.out_of_scope)}
        self.progress = dict.fromkeys(self.criteria, 0)
        self.writes: list[str] = []
        self.read_module = False
        self.violations = 0
        self.misplaced = 0
        self.failing = False
        self.trigger_step = 0
        self.seen = False
        self.fixed = False
        self.masked = False
        self.wrong_fixes = 0
        self.fixes_since_test = 0
        self.hypothesis: str | None = None
        self.checkpoint_state = "not_due"  # -> pending -> answered | missed
        self.checkpoint_due_at = 0
        self.checkpoint_call: str | None = None
        self.committed = False
        targets = (*self.criteria, *self.extras)
        files = self.codebase.modules
        base = (
            move("read_file", "read a module before changing it", text=False, file=files),
            move("write_code", "write code for one target in one file", target=targets, file=files),
            move("run_tests", "run the test suite", text=False),
            move("read_error", "read the failing test's output closely", text=False),
            move(
                "hypothesize", "state what you think causes the failure", cause=tuple(bank.FAILURES)
            ),
            move(
                "apply_fix",
                "change code to fix the failure",
                fix=(*bank.FAILURES, *bank.SYMPTOM_FIXES),
            ),
            move("commit", "deliver the work as it stands; ends the episode"),
        )
        self.normal: tuple[MoveSpec, ...] = base
        self.at_checkpoint: tuple[MoveSpec, ...] = (
            *base,
            move("checkpoint_continue", "keep going as planned"),
            move("checkpoint_pivot", "change approach"),
            move("checkpoint_escalate", "ask someone outside the team to unblock you"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.at_checkpoint if self.checkpoint_state == "pending" else self.normal

    def brief(self) -> str:
        cb = self.codebase
        criteria = "; ".join(
            f"{c} [{'core' if c in self.core else 'supporting'}]: {self.text[c]}"
            for c in self.display
        )
        extras = "; ".join(f"{x}: {item}" for x, item in self.extras.items())
        return (
            f"Implement '{self.story.title}' in module {cb.relevant_module} "
            f"({cb.kind} {cb.language} codebase). Acceptance: {criteria}. "
            f"Also requested by some users: {extras}."
        )

    def _lead(self, text: str) -> str:
        return f"{self.lead.name} (tech lead): {text}"

    def _done(self, criterion: str) -> bool:
        return self.progress[criterion] >= UNITS_PER_CRITERION

    def _completed(self) -> int:
        return sum(1 for c in self.criteria if self._done(c))

    def _struggling(self) -> bool:
        """A needed pivot or escalation that did not happen makes every write cost double."""
        needed = self.truth.verdict != "continue"
        answered_right = self.checkpoint_call == self.truth.verdict
        return needed and self.checkpoint_state in ("answered", "missed") and not answered_right

    # --- moves ---------------------------------------------------------------------

    def on_read_file(self, m: Move) -> Effect:
        f = m.args["file"]
        effect = Effect()
        if f != self.codebase.relevant_module:
            effect.add("irrelevant_read", f"{f} has nothing to do with this change.", 0.25)
            return self._tick(effect)
        first = not self.read_module
        self.read_module = True
        conv = ", ".join(f"{k} {v}" for k, v in self.codebase.conventions.items())
        self.learn(f"conventions ({f}): {conv}")
        effect.add("file_read", f"{f} uses {conv}.", 0.25 if first else 0.1)
        return self._tick(effect)

    def on_write_code(self, m: Move) -> Effect:
        target, f = m.args["target"], m.args["file"]
        effect = Effect()
        cost = WRITE_COST * (2.0 if self._struggling() else 1.0)
        if f != self.codebase.relevant_module:
            self.misplaced += 1
            effect.add("misplaced_code", f"Reviewers will ask why this is in {f}.", 0.25)
        if not self.read_module:
            self.violations += 1
            effect.add(
                "convention_violation",
                "The linter flags code that ignores the module's conventions.",
                0.25,
            )
        core_open = any(not self._done(c) for c in self.core)
        if target in self.extras:
            self.writes.append(target)
            effect.add(
                "excess_code", f"You build {self.extras[target]}; no criterion asks for it.", cost
            )
            effect.score("B-25", excess_code_penalty=1.0).score("B-26", core_first=0.0)
            return self._tick(effect)
        if self._done(target):
            effect.add("redundant_work", f"{target} is already done.", cost / 2)
            return self._tick(effect.score("B-26", core_first=0.0))
        self.writes.append(target)
        self.progress[target] += 1
        effect.add(
            "code_written", f"{target}: {self.progress[target]}/{UNITS_PER_CRITERION} done.", cost
        )
        if core_open and target not in self.core:
            effect.add("core_deferred", "The core criteria are still open.")
        elif core_open and all(self._done(c) for c in self.core):
            effect.add("core_done", "The core of the story works end to end.")
        if self._struggling():
            effect.add("struggling", "This is slow going; the current path fights you.")
        effect.score("B-25", excess_code_penalty=0.0)
        effect.score("B-26", core_first=float(target in self.core or not core_open))
        if self._done(target):
            self.learn(f"done: {target}")
            if self._completed() == TRIGGER_AFTER and not self.failing and not self.fixed:
                self.failing = True
                self.trigger_step = self.steps
            if self.checkpoint_state == "not_due" and self._completed() >= len(self.criteria) / 2:
                self.checkpoint_state = "pending"
                self.checkpoint_due_at = self.steps
                self.learn(f"checkpoint evidence: {self.truth.evidence}")
                effect.add("checkpoint_due", self._lead("Checkpoint: continue, pivot or escalate?"))
        return self._tick(effect)

    def on_run_tests(self, m: Move) -> Effect:
        effect = Effect()
        self.fixes_since_test = 0
        if self.failing and not self.fixed and not self.masked:
            symptom = bank.FAILURES[self.cause][0]
            self.learn(f"failing: {symptom}")
            if not self.seen:
                self.seen = True
                delay = self.steps - self.trigger_step
                effect.score("B-10", detection_speed=1.0 / (1.0 + max(0, delay - 1) / 2))
            effect.add("tests_failing", f"1 test fails: {symptom}.", 0.25)
        else:
            effect.add("tests_passing", "All tests pass.", 0.25)
        return self._tick(effect)

    def on_read_error(self, m: Move) -> Effect:
        effect = Effect()
        if not (self.seen and not self.fixed):
            effect.add("nothing_to_read", "There is no failing output to read.", 0.1)
            return self._tick(effect.score("B-11", error_read=0.0))
        hint = bank.FAILURES[self.cause][1]
        self.learn(f"error points at: {hint}")
        effect.add("error_read", f"The trace points at: {hint}.", 0.25)
        return self._tick(effect.score("B-11", error_read=1.0))

    def on_hypothesize(self, m: Move) -> Effect:
        cause = m.args["cause"]
        effect = Effect()
        if not self.seen or self.fixed:
            effect.add("nothing_to_explain", "No failure is known to explain.", 0.1)
            return self._tick(effect.score("B-11", hypothesis_first=0.0))
        first = self.hypothesis is None and self.wrong_fixes == 0
        self.hypothesis = cause
        self.learn(f"hypothesis: {cause}")
        effect.add("hypothesis_stated", f"You suspect {cause}.", 0.1)
        effect.score("B-11", hypothesis_first=float(first))
        return self._tick(effect.score("B-10", diagnosis=float(cause == self.cause)))

    def on_apply_fix(self, m: Move) -> Effect:
        fix = m.args["fix"]
        effect = Effect()
        single = self.fixes_since_test == 0
        self.fixes_since_test += 1
        if not self.failing or self.fixed:
            effect.add("needless_fix", "There was nothing to fix; the change adds risk.", 0.5)
            return self._tick(effect.score("B-11", root_cause=0.0, single_change=float(single)))
        hypothesis_first = float(self.hypothesis is not None)
        if fix == self.cause:
            self.fixed = True
            self.learn(f"fixed: {fix}")
            effect.add("root_cause_fixed", "The fix addresses the cause.", 0.5)
            effect.score("B-10", resolution=1.0)
            return self._tick(
                effect.score(
                    "B-11",
                    root_cause=1.0,
                    single_change=float(single),
                    hypothesis_first=hypothesis_first,
                )
            )
        if fix in bank.SYMPTOM_FIXES:
            self.masked = True
            effect.add(
                "symptom_masked", "The test goes quiet, but nothing about the cause changed.", 0.5
            )
        else:
            self.wrong_fixes += 1
            effect.add("fix_ineffective", "The change does not touch the failing path.", 0.5)
        effect.score("B-10", resolution=0.0)
        return self._tick(
            effect.score(
                "B-11",
                root_cause=0.0,
                single_change=float(single),
                hypothesis_first=hypothesis_first,
            )
        )

    def _checkpoint(self, m: Move) -> Effect:
        call = VERDICT_MOVES[m.name]
        correct = call == self.truth.verdict
        self.checkpoint_state = "answered"
        self.checkpoint_call = call
        effect = Effect(transition=call, transition_correct=correct)
        self.learn(f"checkpoint call: {call}")
        if correct and call == "escalate":
            effect.add(
                "escalation_resolved", "The partner team granted access after a short wait.", 2.0
            )
        elif correct and call == "pivot":
            effect.add(
                "pivot_taken", self._lead("Good call; the new approach fits the limit."), 1.0
            )
        elif correct:
            effect.add("checkpoint_confirmed", self._lead("Agreed, carry on."), 0.1)
        elif call == "continue":
            effect.add("checkpoint_wrong", self._lead("Carrying on, then."), 0.1)
        else:
            effect.add(
                "checkpoint_wrong", self._lead(f"A {call} was not needed; that cost us."), 2.0
            )
        return self._tick(
            effect.score(
                "B-09", checkpoint_accuracy=float(correct), decision_correctness=float(correct)
            )
        )

    on_checkpoint_continue = _checkpoint
    on_checkpoint_pivot = _checkpoint
    on_checkpoint_escalate = _checkpoint

    def on_commit(self, m: Move) -> Effect:
        self.committed = True
        effect = Effect(done=True)
        done = self._completed()
        effect.add("delivered", f"Delivered {done} of {len(self.criteria)} criteria.")
        if self.masked and not self.fixed:
            effect.add("bug_recurred", "In review the masked failure came back.")
        elif self.failing and not self.fixed:
            effect.add("shipped_failing", "CI is red on the delivered work.")
        effect.score(
            "B-25",
            acceptance_criteria_coverage=ratio(done, len(self.criteria)),
            excess_code_penalty=float(any(w in self.extras for w in self.writes)),
        )
        return effect.score("B-26", core_first=1.0 - self._core_position())

    def _tick(self, effect: Effect) -> Effect:
        """A checkpoint left unanswered for too long is taken as 'continue'."""
        if (
            self.checkpoint_state == "pending"
            and self.steps - self.checkpoint_due_at >= CHECKPOINT_PATIENCE
        ):
            self.checkpoint_state = "missed"
            self.checkpoint_call = "continue"
            effect.add("checkpoint_missed", self._lead("No answer; we assume you carry on."))
            # carrying on may turn out right, but no call was made
            effect.score("B-09", checkpoint_accuracy=0.0, decision_correctness=0.0)
        return effect

    # --- measurement ---------------------------------------------------------------

    def _core_position(self) -> float:
        """Share of the non-core writes made before the core was complete (1 if never)."""
        core_units = UNITS_PER_CRITERION * len(self.core)
        progress = dict.fromkeys(self.core, 0)
        for i, w in enumerate(self.writes):
            if w in progress:
                progress[w] += 1
            if all(v >= UNITS_PER_CRITERION for v in progress.values()):
                return ratio(i + 1 - core_units, len(self.writes) - core_units, empty=0.0)
        return 1.0

    def outcome_signals(self) -> dict[str, float]:
        done = self._completed()
        share = ratio(done, len(self.criteria))
        bug = 1.0 if (self.fixed or not self.failing) else 0.5 if self.masked else 0.3
        right_call = self.checkpoint_call == self.truth.verdict
        extras = sum(1 for w in self.writes if w in self.extras)
        planned = WRITE_COST * UNITS_PER_CRITERION * len(self.criteria) + 4.0
        rework = (
            self.violations + self.misplaced + extras + self.wrong_fixes + (0 if right_call else 3)
        )
        return {
            "story_accepted": share * bug * (1.0 if right_call else 0.6),
            "tests_passing": 1.0
            if (self.fixed or not self.failing)
            else 0.4
            if self.masked
            else 0.0,
            "low_iteration_count": 1.0
            / (1.0 + self.wrong_fixes + (0 if right_call else 1) + (1 if self.masked else 0)),
            "velocity": min(1.0, planned / max(self.hours, 1.0)) * share,
            "low_rework": max(0.0, 1.0 - rework / 10.0),
            "coverage": share * self.codebase.test_coverage**0.5,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.checkpoint_state == "missed":
            metrics["B-09"] = 0.0
        elif self.checkpoint_state == "answered":
            metrics["B-09"] = float(self.checkpoint_call == self.truth.verdict)
        if self.seen:
            metrics["B-10"] = float(self.fixed and self.wrong_fixes < 3)
        if self.failing:
            # root-cause fixes / failures: measured once the failure triggered, seen or
            # not (one never looked at was not fixed either); it is the chance of a
            # self-correction that dojo.eval.metrics reads
            metrics["B-11"] = float(self.fixed)
        if self.writes:
            metrics["B-25"] = sum(1 for w in self.writes if w not in self.extras) / len(self.writes)
            metrics["B-26"] = self._core_position()
        return metrics

    def baseline_actions(self) -> int:
        n = len(self.criteria)
        # every write, one read, a test run per criterion, read/hypothesise/fix/re-run,
        # the checkpoint and the commit
        return UNITS_PER_CRITERION * n + 1 + n + 4 + 2
