"""E-1.4 Self-monitoring: half-way through a task, is it really going well?

Hidden truth: a planted issue — none, a dead-end approach, a requirement
mismatch, missing knowledge, or an external block — and so the right checkpoint
call (continue / pivot / escalate) and the true progress (on track / behind /
blocked).

Each kind of look finds its own kind of issue, and only that: ``run_checks``
finds a dead end or a block, ``reread_requirements`` a mismatch, ``research`` a
knowledge gap; ``check_progress`` shows numbers that hint but never prove.
``identify_issue``, ``assess_progress`` and ``assess_confidence`` are scored
against the truth; naming the issue or reporting progress again with no new look
in between says nothing new: it costs a little time and earns nothing (a trained
policy had learned to report "behind" six times in a row, each report paid as if
it were news). The checkpoint move ends the episode. The right call keeps
the story; continuing on a planted issue ships the wrong thing or nothing; a
needless pivot or escalation burns time. Escalating on a knowledge gap or a
block is exactly the help-seeking that B-12 rewards.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move
from dojo.env.moves import Move, MoveSpec
from dojo.env.protocol import Transition

LOOK_COST = 0.5
TRUE_PROGRESS = {
    "none": "on_track",
    "approach_dead_end": "behind",
    "requirement_mismatch": "behind",
    "missing_knowledge": "behind",
    "blocked_externally": "blocked",
}
CALLS: dict[str, Transition] = {
    "checkpoint_continue": "continue",
    "checkpoint_pivot": "pivot",
    "checkpoint_escalate": "escalate",
}
# which look uncovers which issue
LOOKS = {
    "run_checks": ("approach_dead_end", "blocked_externally"),
    "reread_requirements": ("requirement_mismatch",),
    "research": ("missing_knowledge",),
}


class SelfMonitoringEpisode(BaseEpisode):
    episode_type = "E-1.4"
    title = "Self-monitoring"
    phases = ("development",)
    step_cap = 25

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move("check_progress", "look at the burn-down numbers", text=False),
        move("run_checks", "run the tests and the benchmark", text=False),
        move("reread_requirements", "read the ticket again, slowly", text=False),
        move("research", "look up what the remaining work needs"),
        move("identify_issue", "name what is wrong, if anything", kind=tuple(bank.ISSUES)),
        move("assess_progress", "say where you really are", estimate=bank.PROGRESS_ESTIMATES),
        move(
            "assess_confidence",
            "say how sure you are of your next call",
            level=tuple(bank.CONFIDENCE),
        ),
        move("checkpoint_continue", "keep going as planned"),
        move("checkpoint_pivot", "change approach"),
        move("checkpoint_escalate", "ask for help outside what you can do alone"),
    )

    def setup(self) -> None:
        self.truth = self.scenario.checkpoint
        self.issue = self.truth.issue
        self.lead = self.scenario.team.by_role("tech_lead")
        self.looked: list[str] = []
        self.found = False
        self.named: str | None = None
        self.estimate: str | None = None
        self.confidence: float | None = None
        self.call: str | None = None

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        s = self.scenario.story
        return (
            f"You are half-way through '{s.title}'. It felt fine yesterday. "
            f"The tech lead ({self.lead.name}) wants a checkpoint call today."
        )

    def _look(self, name: str, finding: str) -> Effect:
        effect = Effect()
        if name in self.looked:
            effect.add("redundant_look", "Nothing changed since you last looked.", LOOK_COST / 2)
            return effect.score("B-10", detection_speed=0.0)
        self.looked.append(name)
        hit = self.issue in LOOKS.get(name, ())
        if hit:
            self.found = True
            self.learn(f"evidence: {bank.ISSUES[self.issue][2]}")
            effect.add("issue_evidence", f"You find: {bank.ISSUES[self.issue][2]}.", LOOK_COST)
        else:
            self.learn(f"{name}: {finding}")
            effect.add("nothing_found", f"{name}: {finding}.", LOOK_COST)
        # a look that can find the planted issue is time well spent; speed counts
        useful = hit or (self.issue == "none" and len(self.looked) <= 3)
        return effect.score(
            "B-10", detection_speed=float(useful) / (1 + 0.25 * (len(self.looked) - 1))
        )

    def on_check_progress(self, m: Move) -> Effect:
        effect = Effect()
        if "check_progress" in self.looked:
            return effect.add("redundant_look", "The numbers have not moved.", LOOK_COST / 2)
        self.looked.append("check_progress")
        hint = bank.ISSUES[self.issue][1]
        self.learn(f"progress: {hint}")
        return effect.add("progress_checked", f"Burn-down: {hint}.", 0.25)

    def on_run_checks(self, m: Move) -> Effect:
        return self._look("run_checks", "tests pass and the benchmark is within its limit")

    def on_reread_requirements(self, m: Move) -> Effect:
        return self._look("reread_requirements", "the work matches the ticket")

    def on_research(self, m: Move) -> Effect:
        return self._look("research", "the remaining work uses things the team knows well")

    def _repeated(self, report: str) -> Effect | None:
        """A report made again with no new look since: redundant (None: it is news)."""
        return self.repeated_call(
            report, len(self.looked), "redundant_report", "Nothing new since your last report."
        )

    def on_identify_issue(self, m: Move) -> Effect:
        if (redundant := self._repeated("identify_issue")) is not None:
            return redundant
        kind = m.args["kind"]
        self.named = kind
        self.learn(f"issue named: {kind}")
        effect = Effect().add("issue_named", f"You name the issue: {kind}.", 0.1)
        effect.score("B-10", diagnosis=float(kind == self.issue))
        if "missing_knowledge" in (kind, self.issue):
            effect.score("B-12", gap_categorisation=float(kind == self.issue))
        return effect

    def on_assess_progress(self, m: Move) -> Effect:
        if (redundant := self._repeated("assess_progress")) is not None:
            return redundant
        estimate = m.args["estimate"]
        self.estimate = estimate
        self.learn(f"progress call: {estimate}")
        effect = Effect().add("progress_assessed", f"You report: {estimate}.", 0.1)
        return effect.score(
            "B-09", checkpoint_accuracy=float(estimate == TRUE_PROGRESS[self.issue])
        )

    def on_assess_confidence(self, m: Move) -> Effect:
        level = m.args["level"]
        self.confidence = bank.CONFIDENCE[level]
        self.learn(f"confidence: {level}")
        return Effect().add("confidence_stated", f"You say you are {level}ly confident.", 0.05)

    def _checkpoint(self, m: Move) -> Effect:
        call = CALLS[m.name]
        self.call = call
        correct = call == self.truth.verdict
        effect = Effect(transition=call, transition_correct=correct, done=True)
        if correct:
            effect.add("checkpoint_confirmed", f"{self.lead.name} (tech lead): Good call.")
        elif call == "continue":
            effect.add("issue_shipped", "Carrying on; the planted issue surfaces at the review.")
        else:
            effect.add("checkpoint_wrong", f"The {call} was not needed; a day went to it.", 4.0)
        effect.score(
            "B-09", checkpoint_accuracy=float(correct), decision_correctness=float(correct)
        )
        if "escalate" in (call, self.truth.verdict):
            effect.score("B-12", help_seeking=float(correct))
        if self.confidence is not None:
            effect.score("B-12", self_assessment=1.0 - abs(self.confidence - float(correct)))
        return effect

    on_checkpoint_continue = _checkpoint
    on_checkpoint_pivot = _checkpoint
    on_checkpoint_escalate = _checkpoint

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        correct = self.call == self.truth.verdict
        planted = self.issue != "none"
        wasted = self.call is not None and not correct and self.call != "continue"
        shipped_issue = planted and self.call in (None, "continue")
        return {
            "story_accepted": 1.0 if correct else 0.2 if shipped_issue else 0.6,
            "tests_passing": 0.4 if shipped_issue else 1.0,
            "low_iteration_count": 1.0 if correct else 0.5 if wasted else 0.33,
            "velocity": max(
                0.0, 1.0 - self.hours / 12.0 - (0.3 if wasted or shipped_issue else 0.0)
            ),
            "low_rework": 1.0 if correct else 0.4 if wasted else 0.2,
            "coverage": 1.0 if correct else 0.6,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        correct = self.call == self.truth.verdict
        metrics = {"B-09": float(correct)}
        if self.issue != "none":
            metrics["B-10"] = float(self.found and self.named == self.issue)
        if self.issue in ("missing_knowledge", "blocked_externally"):
            metrics["B-12"] = float(self.call == "escalate")
        if self.confidence is not None and self.call is not None:
            metrics["B-30"] = 1.0 - abs(self.confidence - float(correct))
        return metrics

    def baseline_actions(self) -> int:
        # progress, three looks, name it, assess progress and confidence, the call
        return 8
