"""E-4.3 Compensation: a teammate left yesterday; cover the gap they leave.

Hidden truth (:class:`~dojo.env.scenario.Departure` plus your own skills): which
of their three open items the release depends on, how far each got, which
knowledge each needs — and whether you have that knowledge yourself.

Consequences: ``assess_progress`` on an item shows its state, whether the
release depends on it and what it needs. ``assess_severity`` is scored against
the truth (high when the critical item needs knowledge you lack, else medium).
``take_over`` of the critical item is what saves the release; taking it without
the knowledge it needs and without ``ask_help`` gets you stuck. Asking for help
you do not need costs a colleague's day. ``replan`` is scored for proportion
(major when you need help, else moderate); ``communicate`` keeps the team in
the loop. ``signal_plan_complete`` (``plan_to_execute``) is correct when the
critical item is yours and the help it needs is asked for.
"""

from __future__ import annotations

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, closeness, move
from dojo.env.episodes.recovery import REPLAN_SCALE
from dojo.env.episodes.triage import AUDIENCES
from dojo.env.moves import Move, MoveSpec


class CompensationEpisode(BaseEpisode):
    episode_type = "E-4.3"
    title = "Compensation"
    phases = ("replanning",)
    step_cap = 30

    def setup(self) -> None:
        dep = self.scenario.departure
        self.dep = dep
        self.items = list(dep.open_work)
        self.critical = dep.critical_work
        self.needs = {item: dep.knowledge[i].topic for i, item in enumerate(self.items)}
        critical_topic = self.needs[self.critical]
        others = [t for t in bank.KNOWLEDGE_TOPICS if t != critical_topic]
        skills = self.rng.sample(others, 2)
        if self.rng.random() < 0.5:
            skills.append(critical_topic)
        self.skills = sorted(skills)
        self.needs_help = critical_topic not in self.skills
        self.progress = {item: self.rng.choice((20, 40, 60)) for item in self.items}
        self.assessed: list[str] = []
        self.severity_call: str | None = None
        self.taken: list[str] = []
        self.helped: list[str] = []
        self.replan_call: str | None = None
        self.told: list[str] = []
        items = tuple(self.items)
        self.move_set: tuple[MoveSpec, ...] = (
            move("assess_progress", "look at one of their open items", text=False, item=items),
            move(
                "assess_severity",
                "state how badly the departure hurts the sprint",
                level=bank.SEVERITIES,
            ),
            move("take_over", "make one of their items yours", item=items),
            move(
                "ask_help",
                "ask a colleague to help you with one topic",
                topic=bank.KNOWLEDGE_TOPICS,
            ),
            move("replan", "adjust the sprint plan", scope=REPLAN_SCALE),
            move("communicate", "tell someone the new plan", audience=AUDIENCES),
            move("signal_plan_complete", "the team can go on with the new plan"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        return (
            f"{self.dep.member.name} left team {self.scenario.team.name} yesterday. "
            f"Their open work: {', '.join(self.items)}. You know {', '.join(self.skills)} well."
        )

    def _right_severity(self) -> str:
        return "high" if self.needs_help else "medium"

    def _right_replan(self) -> str:
        return "major" if self.needs_help else "moderate"

    def on_assess_progress(self, m: Move) -> Effect:
        item = m.args["item"]
        effect = Effect()
        if item in self.assessed:
            return effect.add("redundant_look", f"Nothing new on {item}.", 0.25)
        self.assessed.append(item)
        stake = "the release depends on it" if item == self.critical else "nothing waits on it"
        self.learn(f"{item}: {self.progress[item]}% done, {stake}, needs {self.needs[item]}")
        effect.add("progress_assessed", f"{item}: {self.progress[item]}% done; {stake}.", 0.5)
        return effect.score("B-10", diagnosis=float(item == self.critical))

    def on_assess_severity(self, m: Move) -> Effect:
        level = m.args["level"]
        self.severity_call = level
        self.learn(f"severity call: {level}")
        effect = Effect().add("severity_assessed", f"You call the loss {level}.", 0.1)
        return effect.score(
            "B-13", severity=closeness(level, self._right_severity(), bank.SEVERITIES)
        )

    def on_take_over(self, m: Move) -> Effect:
        item = m.args["item"]
        effect = Effect()
        if item in self.taken:
            return effect.add("redundant_takeover", f"{item} is already yours.", 0.1)
        self.taken.append(item)
        self.learn(f"taken over: {item}")
        effect.add("work_taken", f"{item} is yours now.", 0.25)
        critical = item == self.critical
        return effect.score(
            "B-14", preserved_components=float(critical), outcome_after_replan=float(critical)
        )

    def on_ask_help(self, m: Move) -> Effect:
        topic = m.args["topic"]
        effect = Effect()
        if topic in self.helped:
            return effect.add("redundant_question", f"Help on {topic} is already arranged.", 0.25)
        self.helped.append(topic)
        self.learn(f"help arranged: {topic}")
        needed = topic == self.needs[self.critical] and self.needs_help
        if needed:
            effect.add("help_arranged", f"A colleague who knows {topic} pairs with you.", 0.5)
        else:
            effect.add(
                "needless_help",
                f"You already know {topic}, or nothing needs it; a colleague's day is gone.",
                1.0,
            )
        return effect.score("B-12", help_seeking=float(needed), gap_categorisation=float(needed))

    def on_replan(self, m: Move) -> Effect:
        scope = m.args["scope"]
        self.replan_call = scope
        self.learn(f"replanned: {scope}")
        effect = Effect().add("replanned", f"You make a {scope} change to the plan.", 0.5)
        return effect.score(
            "B-14", preserved_components=closeness(scope, self._right_replan(), REPLAN_SCALE)
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
            audience_match=float(audience in ("team", "product_owner")),
        )
        return effect.score("B-14", communicated=1.0)

    def on_signal_plan_complete(self, m: Move) -> Effect:
        owned = self.critical in self.taken
        helped = not self.needs_help or self.needs[self.critical] in self.helped
        correct = owned and helped
        effect = Effect(transition="plan_to_execute", transition_correct=correct, done=True)
        effect.add("plan_complete", "The team goes on without them.")
        if not owned:
            effect.add("critical_work_unowned", f"Nobody owns {self.critical}; the release slips.")
        elif not helped:
            effect.add(
                "stuck_without_help",
                f"You get stuck on {self.needs[self.critical]} in {self.critical}.",
            )
        asked_needlessly = any(
            t != self.needs[self.critical] or not self.needs_help for t in self.helped
        )
        return effect.score("B-12", self_assessment=float(helped and not asked_needlessly))

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        owned = self.critical in self.taken
        helped = not self.needs_help or self.needs[self.critical] in self.helped
        proportion = 0.0
        if self.replan_call is not None:
            proportion = closeness(self.replan_call, self._right_replan(), REPLAN_SCALE)
        accepted = 1.0 if owned and helped else 0.5 if owned else 0.2
        return {
            "story_accepted": accepted,
            "tests_passing": 1.0 if owned and helped else 0.6,
            "low_iteration_count": 1.0 if owned and helped else 0.5,
            "velocity": max(0.0, 1.0 - self.hours / 12.0) * (0.6 + 0.4 * proportion),
            "low_rework": 1.0 if helped else 0.4,
            "coverage": 0.5 + 0.5 * float(bool(self.told)),
        }

    def behaviour_metrics(self) -> dict[str, float]:
        helped = not self.needs_help or self.needs[self.critical] in self.helped
        metrics = {
            "B-10": float(self.critical in self.assessed),
            "B-12": float(helped and (self.needs_help or not self.helped)),
        }
        if self.severity_call is not None:
            metrics["B-13"] = closeness(self.severity_call, self._right_severity(), bank.SEVERITIES)
        if self.replan_call is not None:
            metrics["B-14"] = closeness(self.replan_call, self._right_replan(), REPLAN_SCALE)
        return metrics

    def baseline_actions(self) -> int:
        # look at each item, call severity, take the critical one, help if needed,
        # replan, tell, signal
        return len(self.items) + 5 + int(self.needs_help)
