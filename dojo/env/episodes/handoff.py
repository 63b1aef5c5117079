"""E-4.1 Knowledge handoff: you leave on Friday; leave your successor able to work.

Hidden truth (:class:`~dojo.env.scenario.Departure`): which of what you know the
successor's upcoming work really needs (critical / useful / trivia), which of it
is already documented, and which open work item the release depends on.

Consequences: ``review_backlog`` shows what the upcoming work leans on and which
item is critical. Knowledge reaches the successor by ``document`` (a page) or
``pair_session`` (2 h, and tacit detail too); documenting what is already
written, or trivia, is time not spent on what matters. ``record_decision``
leaves the why of an open item traceable; ``hand_over`` names who owns it now.
``signal_handoff_complete`` ends it: the successor's velocity drops 15 % per
critical topic left uncovered (5 % if only a page covers it), 5 % per useful one,
and the critical item stalls if nobody owns it or knows why it is built that way.
"""

from __future__ import annotations

from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec


class HandoffEpisode(BaseEpisode):
    episode_type = "E-4.1"
    title = "Knowledge handoff"
    phases = ("handoff",)
    step_cap = 30

    def setup(self) -> None:
        dep = self.scenario.departure
        self.dep = dep
        self.items = {k.topic: k for k in dep.knowledge}
        self.critical = [t for t, k in self.items.items() if k.importance == "critical"]
        self.successor = next(
            m for m in self.scenario.team.members if m.role == "developer" and m != dep.member
        )
        self.reviewed = False
        self.checked: list[str] = []
        self.documented: list[str] = []
        self.paired: list[str] = []
        self.recorded: list[str] = []
        self.handed: list[str] = []
        topics = tuple(self.items)
        work = dep.open_work
        self.move_set: tuple[MoveSpec, ...] = (
            move("review_backlog", "see what the upcoming work needs", text=False),
            move(
                "check_docs",
                "see whether a topic is already written down",
                text=False,
                topic=topics,
            ),
            move("document", "write a page on one topic", topic=topics),
            move(
                "pair_session",
                "spend 2 h showing the successor one topic",
                text=False,
                topic=topics,
            ),
            move(
                "record_decision", "write down why an open item is built the way it is", item=work
            ),
            move("hand_over", "make the successor the owner of an open item", item=work),
            move("signal_handoff_complete", "you are done handing over"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        return (
            f"You leave team {self.scenario.team.name} on Friday. {self.successor.name} takes over. "
            f"Your open work: {', '.join(self.dep.open_work)}. "
            f"What you know that others may not: {', '.join(self.items)}."
        )

    def _covered(self, topic: str) -> bool:
        return topic in self.paired or topic in self.documented or self.items[topic].documented

    def _critical_coverage(self) -> float:
        return ratio(sum(1 for t in self.critical if self._covered(t)), len(self.critical))

    # --- moves ---------------------------------------------------------------------

    def on_review_backlog(self, m: Move) -> Effect:
        effect = Effect()
        if self.reviewed:
            return effect.add("redundant_look", "The backlog has not changed.", 0.25)
        self.reviewed = True
        self.learn(f"upcoming work leans on: {', '.join(self.critical)}")
        self.learn(f"the release depends on: {self.dep.critical_work}")
        return effect.add("backlog_reviewed", "You see what the next sprints need.", 0.5)

    def on_check_docs(self, m: Move) -> Effect:
        topic = m.args["topic"]
        effect = Effect()
        if topic in self.checked:
            return effect.add("redundant_look", f"Still the same page on {topic}.", 0.1)
        self.checked.append(topic)
        state = (
            "already documented" if self.items[topic].documented else "not written down anywhere"
        )
        self.learn(f"docs ({topic}): {state}")
        return effect.add("docs_checked", f"{topic}: {state}.", 0.25)

    def _transfer(self, topic: str, how: str, cost: float) -> Effect:
        effect = Effect()
        item = self.items[topic]
        # pairing deepens a critical topic a page already covers; anything else covered is waste
        deepens = how == "paired" and item.importance == "critical" and topic not in self.paired
        wasted = self._covered(topic) and not deepens
        open_critical = [t for t in self.critical if not self._covered(t)]
        prioritised = item.importance == "critical" or not open_critical
        (self.paired if how == "paired" else self.documented).append(topic)
        self.learn(f"{how}: {topic}")
        if wasted:
            effect.add("redundant_handoff", f"{topic} was already covered.", cost)
        else:
            effect.add(
                "knowledge_transferred", f"{self.successor.name} now has {topic} ({how}).", cost
            )
        effect.score(
            "B-24",
            prioritised=float(prioritised and not wasted),
            critical_coverage=self._critical_coverage(),
        )
        return effect

    def on_document(self, m: Move) -> Effect:
        return self._transfer(m.args["topic"], "documented", 1.0)

    def on_pair_session(self, m: Move) -> Effect:
        return self._transfer(m.args["topic"], "paired", 2.0)

    def on_record_decision(self, m: Move) -> Effect:
        item = m.args["item"]
        effect = Effect()
        if item in self.recorded:
            effect.add("redundant_record", f"The decision on {item} is already recorded.", 0.25)
            return effect.score("B-23", decision_recorded=0.0)
        self.recorded.append(item)
        self.learn(f"decision recorded: {item}")
        effect.add("decision_recorded", f"The why of {item} is written down.", 0.5)
        return effect.score(
            "B-23",
            decision_recorded=1.0,
            traceability=float(
                item == self.dep.critical_work or self.dep.critical_work in self.recorded
            ),
        )

    def on_hand_over(self, m: Move) -> Effect:
        item = m.args["item"]
        effect = Effect()
        if item in self.handed:
            return effect.add("redundant_handover", f"{item} is already handed over.", 0.1)
        self.handed.append(item)
        self.learn(f"handed over: {item}")
        effect.add("work_handed_over", f"{self.successor.name} owns {item} now.", 0.25)
        return effect.score("B-23", traceability=float(item in self.recorded))

    def on_signal_handoff_complete(self, m: Move) -> Effect:
        effect = Effect(done=True).add("handoff_complete", "You leave; the team carries on.")
        if self.dep.critical_work not in self.handed:
            effect.add("orphaned_work", f"Nobody owns {self.dep.critical_work}; it stalls.")
        effect.score(
            "B-24",
            successor_velocity=1.0 - self._velocity_drop(),
            critical_coverage=self._critical_coverage(),
        )
        return effect.score("B-23", traceability=ratio(len(self.recorded), len(self.dep.open_work)))

    # --- measurement ---------------------------------------------------------------

    def _velocity_drop(self) -> float:
        drop = 0.0
        for topic, item in self.items.items():
            if item.importance == "critical":
                drop += 0.0 if topic in self.paired else 0.05 if self._covered(topic) else 0.15
            elif item.importance == "useful" and not self._covered(topic):
                drop += 0.05
        return min(1.0, drop)

    def outcome_signals(self) -> dict[str, float]:
        owned = self.dep.critical_work in self.handed
        explained = self.dep.critical_work in self.recorded
        drop = self._velocity_drop()
        return {
            "story_accepted": (0.5 * float(owned) + 0.5 * float(explained)) * (1.0 - drop),
            "tests_passing": 1.0 - drop / 2,
            "low_iteration_count": 1.0 / (1.0 + (0 if explained else 1) + (0 if owned else 1)),
            "velocity": 1.0 - drop,
            "low_rework": 1.0 - drop,
            "coverage": self._critical_coverage(),
        }

    def behaviour_metrics(self) -> dict[str, float]:
        return {
            "B-23": ratio(len(self.recorded), len(self.dep.open_work)),
            "B-24": self._velocity_drop(),
        }

    def baseline_actions(self) -> int:
        # review, check and pair each critical topic, record and hand over the
        # critical item, signal
        return 2 * len(self.critical) + 4
