"""E-2.3 Scope change: the product owner wants something added mid-sprint.

Hidden truth: the request's real size (small / medium / large) and whether it is
urgent, and so the proportionate answer — accept a small one, swap a medium one
for planned work of the same size, split a large urgent one (a thin slice now),
defer a large one that can wait — and the replanning that goes with it.

Consequences: asking about ``scope`` reveals the size, about ``users`` the
urgency; nothing reveals them otherwise. Accepting anything but a small request
overloads the sprint (velocity, rework, and code no sprint goal needed);
refusing an urgent need loses acceptance. ``signal_ready`` ends the episode.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, closeness, move
from dojo.env.episodes.recovery import REPLAN_SCALE
from dojo.env.episodes.triage import AUDIENCES
from dojo.env.moves import Move, MoveSpec
from dojo.env.scenario import generate_disturbance

OPTIONS = ("accept", "swap", "split", "defer")
SIZE_COMPONENTS = {"small": 1, "medium": 3, "large": 6}
IMPACT = {"small": "low", "medium": "medium", "large": "high"}
REPLAN_FOR = {"accept": "minimal", "swap": "moderate", "split": "moderate", "defer": "minimal"}


def right_option(size: str, urgent: bool) -> str:
    if size == "small":
        return "accept"
    if size == "medium":
        return "swap"
    return "split" if urgent else "defer"


class ScopeChangeEpisode(BaseEpisode):
    episode_type = "E-2.3"
    title = "Scope change"
    phases = ("replanning",)
    step_cap = 25

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move(
            "ask_question",
            "ask the product owner about the request",
            dimension=("scope", "users", "acceptance", "other"),
        ),
        move(
            "assess_severity",
            "state how much the request disrupts the sprint",
            level=bank.SEVERITIES,
        ),
        move("negotiate", "propose what happens to the request", option=OPTIONS),
        move("propose_replan", "adjust the sprint plan", scope=REPLAN_SCALE),
        move("communicate", "tell someone the new plan", audience=AUDIENCES),
        move("signal_ready", "the sprint goes on with the agreed plan"),
    )

    def setup(self) -> None:
        d = self.scenario.disturbance
        if d.kind != "scope_creep":
            d = generate_disturbance(
                self.rng, "scope_creep", self.spec.difficulty, self.scenario.story.system
            )
        self.d = d
        self.size = d.size
        self.urgent = d.severity in ("high", "critical")
        self.right = right_option(self.size, self.urgent)
        self.request = self.scenario.story.out_of_scope[0]
        self.po = self.scenario.team.by_role("product_owner")
        self.asked: list[str] = []
        self.impact_call: str | None = None
        self.option: str | None = None
        self.replan_call: str | None = None
        self.told: list[str] = []

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        return (
            f"Day {self.scenario.sprint_day} of 10: {self.po.name} (product owner) asks to add "
            f"{self.request} to this sprint's '{self.scenario.story.title}'."
        )

    def _po(self, text: str) -> str:
        return f"{self.po.name} (product owner): {text}"

    def on_ask_question(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        effect = Effect()
        if dim in self.asked:
            effect.add("redundant_question", self._po("I told you already."), 0.5)
            return effect.score("B-02", explicit_scope_question=0.0)
        self.asked.append(dim)
        if dim == "scope":
            n = SIZE_COMPONENTS[self.size]
            self.learn(f"size: touches {n} component(s)")
            effect.add("scope_clarified", self._po(f"It touches {n} component(s)."), 0.25)
            return effect.score("B-02", explicit_scope_question=1.0)
        if dim == "users":
            need = (
                "a key customer needs it this sprint"
                if self.urgent
                else "it would be nice, no one is waiting"
            )
            self.learn(f"urgency: {need}")
            return effect.add("urgency_clarified", self._po(f"Honestly, {need}."), 0.25)
        if dim == "acceptance":
            self.learn(f"done means: {self.request} works for one report")
            return effect.add("example_given", self._po("One report is enough to start."), 0.25)
        return effect.add("answer_no_news", self._po("Nothing else."), 0.25)

    def on_assess_severity(self, m: Move) -> Effect:
        level = m.args["level"]
        self.impact_call = level
        self.learn(f"impact call: {level}")
        effect = Effect().add("severity_assessed", f"You call the disruption {level}.", 0.1)
        return effect.score("B-13", severity=closeness(level, IMPACT[self.size], bank.SEVERITIES))

    def on_negotiate(self, m: Move) -> Effect:
        option = m.args["option"]
        self.option = option
        self.learn(f"agreed: {option}")
        effect = Effect()
        if option == self.right:
            effect.add("agreement", self._po(f"{option.capitalize()} works for me."), 0.5)
        elif option == "accept":
            effect.add("sprint_overloaded", "The sprint now holds more than it can carry.", 0.5)
        else:
            effect.add("poor_fit", self._po(f"A {option} is not what this needs."), 0.5)
        effect.score("B-14", outcome_after_replan=float(option == self.right))
        if option == "accept":
            effect.score("B-25", excess_code_penalty=float(self.size != "small"))
        return effect

    def on_propose_replan(self, m: Move) -> Effect:
        scope = m.args["scope"]
        self.replan_call = scope
        self.learn(f"replanned: {scope}")
        effect = Effect().add("replanned", f"You make a {scope} change to the plan.", 0.5)
        return effect.score(
            "B-14", preserved_components=closeness(scope, REPLAN_FOR[self.right], REPLAN_SCALE)
        )

    def on_communicate(self, m: Move) -> Effect:
        audience = m.args["audience"]
        first = not self.told
        self.told.append(audience)
        self.learn(f"told: {audience}")
        effect = Effect().add("status_sent", f"You update the {audience.replace('_', ' ')}.", 0.25)
        effect.score(
            "B-21",
            raised_early=float(first),
            audience_match=float(audience in ("product_owner", "team")),
        )
        return effect.score("B-14", communicated=1.0)

    def on_signal_ready(self, m: Move) -> Effect:
        effect = Effect(done=True).add("plan_agreed", "The sprint goes on.")
        if self.option is None:
            effect.add("request_unanswered", "The request hangs in the air; the team guesses.")
        return effect.score("B-02", scope_match=float(self.option == self.right))

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        right = self.option == self.right
        overloaded = self.option == "accept" and self.size != "small"
        refused_urgent = self.urgent and self.option == "defer"
        proportion = 0.0
        if self.replan_call is not None:
            proportion = closeness(self.replan_call, REPLAN_FOR[self.right], REPLAN_SCALE)
        return {
            "story_accepted": 1.0 if right else 0.3 if refused_urgent else 0.5,
            "tests_passing": 0.6 if overloaded else 1.0,
            "low_iteration_count": 1.0 if right else 0.5,
            "velocity": max(0.0, 1.0 - self.hours / 10.0 - (0.4 if overloaded else 0.0)),
            "low_rework": (0.5 + 0.5 * proportion) if not overloaded else 0.2,
            "coverage": 1.0 if right else 0.6,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {"B-02": float("scope" in self.asked and self.option == self.right)}
        if self.impact_call is not None:
            metrics["B-13"] = closeness(self.impact_call, IMPACT[self.size], bank.SEVERITIES)
        if self.option is not None:
            metrics["B-14"] = float(self.option == self.right)
            metrics["B-25"] = float(not (self.option == "accept" and self.size != "small"))
        return metrics

    def baseline_actions(self) -> int:
        # size, urgency, impact, the negotiation, the replan, one update, the signal
        return 7
