"""E-2.2 Recovery: something broke; get unstuck, fix the cause, replan, learn.

Hidden truth: the disturbance's root cause (one of four for its type; scope
creep is not a breakage, so it is replaced by a technical disturbance), its
severity (which sets how much replanning is proportionate) and its chance of
recurring.

Consequences: the failure persists until ``apply_fix`` names the root cause.
``read_error`` points at the cause — at higher difficulty at two candidates.
``retry`` changes nothing: being stuck costs time and B-10. A wrong fix costs an
iteration. ``replan`` is scored for proportion (minimal for low/medium,
moderate for high, major for critical). A post-mortem naming the real cause cuts
recurrence by 80 %; ``close_incident`` ends the episode, and closing while it
still fails is the worst outcome.
"""

from __future__ import annotations

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, closeness, move
from dojo.env.episodes.triage import AUDIENCES
from dojo.env.moves import Move, MoveSpec
from dojo.env.scenario import generate_disturbance

RECOVERABLE = tuple(k for k in bank.DISTURBANCE_TYPES if k != "scope_creep")
REPLAN_SCALE = ("minimal", "moderate", "major")
PROPORTIONATE = {"low": "minimal", "medium": "minimal", "high": "moderate", "critical": "major"}
FIX_COST = 1.0


class RecoveryEpisode(BaseEpisode):
    episode_type = "E-2.2"
    title = "Recovery"
    phases = ("recovery",)
    step_cap = 35

    def setup(self) -> None:
        d = self.scenario.disturbance
        if d.kind not in RECOVERABLE:
            d = generate_disturbance(
                self.rng,
                self.rng.choice(RECOVERABLE),
                self.spec.difficulty,
                self.scenario.story.system,
            )
        self.d = d
        self.seen = False
        self.fixed = False
        self.retries = 0
        self.wrong_fixes = 0
        self.hypotheses: list[str] = []
        self.replan_call: str | None = None
        self.told: list[str] = []
        self.postmortem: str | None = None
        self.closed = False
        causes = d.causes
        decoys = [c for c in causes if c != d.root_cause]
        self.pointers = (
            [d.root_cause]
            if self.spec.difficulty <= 0.5
            else sorted([d.root_cause, self.rng.choice(decoys)])
        )
        self.move_set: tuple[MoveSpec, ...] = (
            move("run_tests", "run the failing suite", text=False),
            move("read_error", "read the failure closely", text=False),
            move("hypothesize", "state what you think the cause is", cause=causes),
            move("apply_fix", "change one thing at the cause", cause=causes),
            move("retry", "run it again unchanged, hoping it passes"),
            move("replan", "adjust the sprint plan", scope=REPLAN_SCALE),
            move("communicate", "tell someone where things stand", audience=AUDIENCES),
            move("write_postmortem", "record the cause and how to prevent it", cause=causes),
            move("close_incident", "declare the incident over"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        return (
            f"Mid-sprint, {self.d.headline}. Triage called it {self.d.severity}. "
            "It is yours to recover from."
        )

    def _words(self, cause: str) -> str:
        return cause.replace("_", " ")

    # --- moves ---------------------------------------------------------------------

    def on_run_tests(self, m: Move) -> Effect:
        effect = Effect()
        if self.fixed:
            return effect.add("tests_passing", "Everything passes.", 0.25)
        first = not self.seen
        self.seen = True
        self.learn(f"failing: {self.d.headline}")
        effect.add("tests_failing", f"Still failing: {self.d.headline}.", 0.25)
        return effect.score("B-10", detection_speed=1.0) if first else effect

    def on_read_error(self, m: Move) -> Effect:
        effect = Effect()
        if self.fixed or not self.seen:
            effect.add("nothing_to_read", "No failing output in front of you.", 0.1)
            return effect.score("B-11", error_read=0.0)
        hint = " or ".join(self._words(c) for c in self.pointers)
        self.learn(f"error points at: {hint}")
        effect.add("error_read", f"The output points at {hint}.", 0.25)
        return effect.score("B-11", error_read=1.0)

    def on_hypothesize(self, m: Move) -> Effect:
        cause = m.args["cause"]
        first = not self.hypotheses and self.wrong_fixes == 0
        self.hypotheses.append(cause)
        self.learn(f"hypothesis: {cause}")
        effect = Effect().add("hypothesis_stated", f"You suspect {self._words(cause)}.", 0.1)
        effect.score("B-11", hypothesis_first=float(first))
        return effect.score("B-10", diagnosis=float(cause == self.d.root_cause))

    def on_apply_fix(self, m: Move) -> Effect:
        cause = m.args["cause"]
        effect = Effect()
        if self.fixed:
            effect.add("needless_fix", "It was already fixed; this adds risk.", FIX_COST / 2)
            return effect.score("B-11", root_cause=0.0)
        if cause == self.d.root_cause:
            self.fixed = True
            self.learn(f"fixed: {cause}")
            effect.add("root_cause_fixed", "The change addresses the cause.", FIX_COST)
            effect.score("B-10", resolution=1.0)
            return effect.score(
                "B-11",
                root_cause=1.0,
                single_change=1.0,
                hypothesis_first=float(bool(self.hypotheses)),
            )
        self.wrong_fixes += 1
        self.learn(f"did not help: {cause}")
        effect.add("fix_ineffective", f"Fixing {self._words(cause)} changes nothing.", FIX_COST)
        effect.score("B-10", resolution=0.0)
        return effect.score(
            "B-11", root_cause=0.0, single_change=1.0, hypothesis_first=float(bool(self.hypotheses))
        )

    def on_retry(self, m: Move) -> Effect:
        self.retries += 1
        effect = Effect()
        if self.fixed:
            return effect.add("tests_passing", "It passes, as it did before.", 0.25)
        effect.add("stuck", "Same failure, same place.", 0.5)
        return effect.score("B-10", detection_speed=0.0)

    def on_replan(self, m: Move) -> Effect:
        scope = m.args["scope"]
        self.replan_call = scope
        self.learn(f"replanned: {scope}")
        effect = Effect().add("replanned", f"You make a {scope} change to the plan.", 0.5)
        return effect.score(
            "B-14",
            preserved_components=closeness(scope, PROPORTIONATE[self.d.severity], REPLAN_SCALE),
        )

    def on_communicate(self, m: Move) -> Effect:
        audience = m.args["audience"]
        first = not self.told
        self.told.append(audience)
        self.learn(f"told: {audience}")
        right = "other_team" if self.d.owned_elsewhere else "team"
        effect = Effect().add("status_sent", f"You update the {audience.replace('_', ' ')}.", 0.25)
        effect.score(
            "B-21",
            raised_early=float(first and not self.fixed),
            audience_match=float(audience == right),
        )
        return effect.score("B-14", communicated=1.0)

    def on_write_postmortem(self, m: Move) -> Effect:
        cause = m.args["cause"]
        self.postmortem = cause
        self.learn(f"post-mortem: {cause}")
        effect = Effect().add(
            "postmortem_written", f"The post-mortem names {self._words(cause)}.", 0.5
        )
        return effect.score("B-15", non_recurrence=float(cause == self.d.root_cause and self.fixed))

    def on_close_incident(self, m: Move) -> Effect:
        self.closed = True
        effect = Effect(done=True)
        if self.fixed:
            effect.add("incident_closed", "The incident is closed.")
        else:
            effect.add("closed_while_failing", "It is closed on paper; it still fails.")
        return effect.score(
            "B-14", outcome_after_replan=float(self.fixed and self.replan_call is not None)
        )

    # --- measurement ---------------------------------------------------------------

    def _recurrence(self) -> float:
        learned = self.postmortem == self.d.root_cause and self.fixed
        return self.d.recurrence * (0.2 if learned else 1.0)

    def outcome_signals(self) -> dict[str, float]:
        iterations = self.retries + self.wrong_fixes
        proportion = 0.0
        if self.replan_call is not None:
            proportion = closeness(self.replan_call, PROPORTIONATE[self.d.severity], REPLAN_SCALE)
        return {
            "story_accepted": (0.6 + 0.4 * proportion) if self.fixed else 0.1,
            "tests_passing": 1.0 if self.fixed else 0.0,
            "low_iteration_count": 1.0 / (1.0 + iterations),
            "velocity": max(0.0, 1.0 - self.hours / 12.0) * (1.0 if self.fixed else 0.5),
            "low_rework": 1.0 - self._recurrence(),
            "coverage": 1.0 if self.postmortem is not None else 0.6,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {"B-15": self._recurrence()}
        if self.seen:
            metrics["B-10"] = float(self.fixed and self.retries + self.wrong_fixes < 3)
            metrics["B-11"] = 1.0 / (1 + self.wrong_fixes) if self.fixed else 0.0
        if self.replan_call is not None:
            metrics["B-14"] = closeness(
                self.replan_call, PROPORTIONATE[self.d.severity], REPLAN_SCALE
            )
        return metrics

    def baseline_actions(self) -> int:
        # run, read, hypothesise, fix, re-run (twice with two suspects), tell,
        # replan, post-mortem, close
        return 9 + 2 * (len(self.pointers) - 1)
