"""E-4.2 Onboarding support: a new hire joins and you are their buddy.

Hidden truth (:class:`~dojo.env.scenario.NewHire`): three real gaps among six
topics. The hire only raises one when you check in with them.

Consequences: ``check_in`` surfaces the next gap as a question. ``explain``
closes a gap in one exchange when it is specific (a few words of real context);
explaining what they already know is time lost. ``point_to_docs`` is cheap but
only works where the docs are current (not in a legacy codebase); ``pair``
(2 h) always works. ``assign_task`` sizes their first task: small is right; a
bigger one stalls on any gap still open. ``signal_onboarded`` ends it; the
hire's first-sprint velocity is the share of gaps closed.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

SIZES = ("small", "medium", "large")
SPECIFIC_WORDS = 6
EARLY = 5


class OnboardingEpisode(BaseEpisode):
    episode_type = "E-4.2"
    title = "Onboarding support"
    phases = ("onboarding",)
    step_cap = 30

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move("check_in", "ask the new hire how it is going"),
        move("explain", "explain one topic to them", topic=bank.KNOWLEDGE_TOPICS),
        move(
            "point_to_docs",
            "send them the docs on one topic",
            text=False,
            topic=bank.KNOWLEDGE_TOPICS,
        ),
        move(
            "pair",
            "spend 2 h working through one topic together",
            text=False,
            topic=bank.KNOWLEDGE_TOPICS,
        ),
        move("assign_task", "give them their first task", size=SIZES),
        move("signal_onboarded", "they can work on their own now"),
    )

    def setup(self) -> None:
        self.hire = self.scenario.new_hire
        self.gaps = list(self.hire.gaps)
        self.raised: list[str] = []
        self.closed: list[str] = []
        self.explained: list[str] = []
        self.first_tries: list[bool] = []
        self.task: str | None = None
        self.productive_early = 0
        self.docs_current = self.scenario.team.codebase.kind != "legacy"

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        m = self.hire.member
        return (
            f"{m.name}, a {m.seniority} developer, joins team {self.scenario.team.name} today "
            f"({self.scenario.team.codebase.kind} codebase). You are their buddy this week."
        )

    def _early(self, useful: bool) -> None:
        if useful and self.steps <= EARLY:
            self.productive_early += 1

    def on_check_in(self, m: Move) -> Effect:
        effect = Effect()
        pending = [g for g in self.gaps if g not in self.raised and g not in self.closed]
        if not pending:
            self.learn(f"{self.hire.member.name}: all good for now")
            return effect.add("no_questions", f"{self.hire.member.name}: I'm good for now.", 0.25)
        gap = pending[0]
        self.raised.append(gap)
        self.learn(f"{self.hire.member.name} asks: how does {gap} work here?")
        self._early(True)
        effect.add("question_raised", f"{self.hire.member.name}: how does {gap} work here?", 0.25)
        return effect.score("B-20", relevance=1.0)

    def _close(
        self, topic: str, how: str, works: bool, cost: float, specific: bool | None
    ) -> Effect:
        effect = Effect()
        gap = topic in self.gaps and topic not in self.closed
        if gap and works:
            self.closed.append(topic)
            self.learn(f"closed: {topic} ({how})")
            effect.add("gap_closed", f"{self.hire.member.name} gets {topic} now.", cost)
        elif gap:
            effect.add(
                "gap_still_open",
                f"The {topic} docs are stale; {self.hire.member.name} is still stuck.",
                cost,
            )
        else:
            effect.add("not_a_gap", f"{self.hire.member.name} already knew {topic}.", cost)
        self._early(gap and works)
        effect.score("B-20", relevance=float(gap))
        if specific is not None:
            resolved = gap and works
            self.first_tries.append(resolved)
            effect.score(
                "B-22", resolved_first_exchange=float(resolved), context_given=float(specific)
            )
        return effect

    def on_explain(self, m: Move) -> Effect:
        specific = len(m.text.split()) >= SPECIFIC_WORDS
        return self._close(m.args["topic"], "explained", specific, 0.5, specific)

    def on_point_to_docs(self, m: Move) -> Effect:
        return self._close(m.args["topic"], "docs", self.docs_current, 0.1, None)

    def on_pair(self, m: Move) -> Effect:
        return self._close(m.args["topic"], "paired", True, 2.0, None)

    def on_assign_task(self, m: Move) -> Effect:
        size = m.args["size"]
        effect = Effect()
        self.task = size
        self.learn(f"first task: {size}")
        open_gaps = len(self.gaps) - len(self.closed)
        completable = 1.0 if size == "small" else ratio(len(self.closed), len(self.gaps))
        effect.add("task_assigned", f"{self.hire.member.name} starts on a {size} task.", 0.25)
        if size != "small" and open_gaps:
            effect.add(
                "task_too_big",
                f"The {size} task runs into {open_gaps} thing(s) they do not know yet.",
            )
        self._early(size == "small")
        return effect.score(
            "B-07",
            tasks_per_point={"small": 1.0, "medium": 0.5, "large": 0.0}[size],
            completability=completable,
        )

    def on_signal_onboarded(self, m: Move) -> Effect:
        effect = Effect(done=True).add(
            "onboarding_done", f"{self.hire.member.name} works on their own."
        )
        return effect.score("B-20", time_to_productive=ratio(len(self.closed), len(self.gaps)))

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        share = ratio(len(self.closed), len(self.gaps))
        fits = self.task == "small" or (self.task is not None and share == 1.0)
        return {
            "story_accepted": (0.5 + 0.5 * float(fits)) * share if self.task else 0.3 * share,
            "tests_passing": 0.5 + 0.5 * share,
            "low_iteration_count": 1.0 / (1.0 + len(self.gaps) - len(self.closed)),
            "velocity": share * max(0.0, 1.0 - self.hours / 16.0),
            "low_rework": 1.0 if fits else 0.4,
            "coverage": share,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {"B-20": self.productive_early / EARLY}
        if self.task is not None:
            metrics["B-07"] = float(self.task == "small")
        if self.first_tries:
            metrics["B-22"] = sum(self.first_tries) / len(self.first_tries)
        return metrics

    def baseline_actions(self) -> int:
        # a check-in and an explanation per gap, the first task, the signal
        return 2 * len(self.gaps) + 2
