"""E-3.2 Cross-team dependency: which other teams does this story really need?

Hidden truth (:class:`~dojo.env.scenario.ExternalDependency` x 4): which of four
neighbouring teams the story really depends on, the kind of each dependency
(api / data / release) and which of those will deliver late.

Consequences: ``inspect`` shows whether the story touches a team's system and
how; ``ask_team`` tells when they deliver. ``declare_dependency`` is a true or
false positive, typed right or wrong — a false one is an invented constraint
that costs coordination. ``raise_blocker`` on a late dependency before the plan
is done lets the team resequence; a false alarm costs trust. Every real
dependency left undeclared blocks the sprint when it bites, and a late one
nobody raised slips it. ``signal_plan_complete`` (``plan_to_execute``) is
correct when every real dependency is declared, none invented, every late one
raised.
"""

from __future__ import annotations

from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

KINDS = ("api", "data", "release")
KIND_WORDS = {
    "api": "calls their API",
    "data": "reads their data",
    "release": "ships with their release",
}


class CrossTeamEpisode(BaseEpisode):
    episode_type = "E-3.2"
    title = "Cross-team dependency"
    phases = ("planning",)
    step_cap = 30

    def setup(self) -> None:
        self.deps = {d.team: d for d in self.scenario.cross_team}
        self.real = [t for t, d in self.deps.items() if d.real]
        self.late = [t for t, d in self.deps.items() if d.real and d.late]
        self.inspected: list[str] = []
        self.asked: list[str] = []
        self.declared: dict[str, str] = {}
        self.raised: list[str] = []
        self.signalled = False
        teams = tuple(self.deps)
        self.move_set: tuple[MoveSpec, ...] = (
            move(
                "inspect", "check whether the story touches a team's system", text=False, team=teams
            ),
            move("ask_team", "ask a team about their side and their dates", team=teams),
            move("declare_dependency", "record a dependency on a team", team=teams, kind=KINDS),
            move("raise_blocker", "warn that a team's date threatens the sprint", team=teams),
            move("signal_plan_complete", "end planning: dependencies are handled"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        return (
            f"Plan '{self.scenario.story.title}' for team {self.scenario.team.name}. "
            f"Neighbouring teams: {', '.join(self.deps)}. Some of them matter to this story."
        )

    def on_inspect(self, m: Move) -> Effect:
        team = m.args["team"]
        effect = Effect()
        if team in self.inspected:
            return effect.add("redundant_look", f"Nothing new about {team}.", 0.25)
        self.inspected.append(team)
        d = self.deps[team]
        if d.real:
            self.learn(f"link ({team}): the story {KIND_WORDS[d.kind]}")
            effect.add("dependency_found", f"The story {KIND_WORDS[d.kind]} ({team}).", 0.5)
            return effect.score("B-03", discovered_early=1.0)
        self.learn(f"no link ({team})")
        return effect.add("no_link", f"Nothing in the story touches {team}.", 0.5)

    def on_ask_team(self, m: Move) -> Effect:
        team = m.args["team"]
        effect = Effect()
        if team in self.asked:
            return effect.add("redundant_question", f"{team}: as we said.", 0.5)
        self.asked.append(team)
        d = self.deps[team]
        if not d.real:
            self.learn(f"{team} says: we see no link to your story")
            return effect.add("no_link", f"{team}: we see no link to your story.", 0.5)
        when = "day 8, after you need it" if d.late else "day 3, in time"
        self.learn(f"{team} delivers: {when}")
        effect.add("date_learned", f"{team}: our part lands on {when}.", 0.5)
        return effect.score("B-03", discovered_early=1.0)

    def on_declare_dependency(self, m: Move) -> Effect:
        team, kind = m.args["team"], m.args["kind"]
        effect = Effect()
        if team in self.declared:
            return effect.add("duplicate_dependency", f"{team} is already declared.", 0.1)
        self.declared[team] = kind
        self.learn(f"declared: {team} ({kind})")
        d = self.deps[team]
        if not d.real:
            effect.add(
                "false_dependency", f"{team} is not on the story's path; coordination wasted.", 0.5
            )
            effect.score("B-03", false_constraint_penalty=1.0)
            return effect.score("B-06", false_positive_penalty=1.0)
        effect.add("dependency_confirmed", f"{team} is on the story's path.", 0.1)
        effect.score("B-03", false_constraint_penalty=0.0)
        return effect.score(
            "B-06",
            true_positive_rate=1.0,
            false_positive_penalty=0.0,
            dependency_typing=float(kind == d.kind),
        )

    def on_raise_blocker(self, m: Move) -> Effect:
        team = m.args["team"]
        effect = Effect()
        if team in self.raised:
            return effect.add("duplicate_alarm", f"{team} is already raised.", 0.1)
        self.raised.append(team)
        self.learn(f"raised: {team}")
        late = team in self.late
        if late:
            effect.add("blocker_raised", f"The team resequences around {team}'s date.", 0.25)
        else:
            effect.add("false_alarm", f"{team} is not late; the alarm costs trust.", 0.25)
        return effect.score(
            "B-21", raised_early=float(late), status_accuracy=float(late), audience_match=1.0
        )

    def on_signal_plan_complete(self, m: Move) -> Effect:
        self.signalled = True
        missing = [t for t in self.real if t not in self.declared]
        invented = [t for t in self.declared if t not in self.real]
        unraised = [t for t in self.late if t not in self.raised]
        correct = not missing and not invented and not unraised
        effect = Effect(transition="plan_to_execute", transition_correct=correct, done=True)
        effect.add("plan_complete", "Execution starts.")
        for t in missing:
            effect.add(
                "undeclared_dependency", f"Mid-sprint the story hits {t}'s system unannounced."
            )
        for t in unraised:
            effect.add("late_dependency_bit", f"{t} delivers late and nobody planned for it.")
        effect.score(
            "B-03", categories_covered=ratio(len(self.real) - len(missing), len(self.real))
        )
        return effect.score(
            "B-06", true_positive_rate=ratio(len(self.real) - len(missing), len(self.real))
        )

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        missing = sum(1 for t in self.real if t not in self.declared)
        invented = sum(1 for t in self.declared if t not in self.real)
        unraised = sum(1 for t in self.late if t not in self.raised)
        alarms = sum(1 for t in self.raised if t not in self.late)
        return {
            "story_accepted": max(0.0, 1.0 - 0.4 * missing - 0.3 * unraised),
            "tests_passing": max(0.0, 1.0 - 0.3 * missing),
            "low_iteration_count": 1.0 / (1.0 + missing + unraised),
            "velocity": max(0.0, 1.0 - 0.3 * missing - 0.3 * unraised - 0.1 * (invented + alarms)),
            "low_rework": max(0.0, 1.0 - 0.25 * (missing + invented)),
            "coverage": ratio(len(self.real) - missing, len(self.real)),
        }

    def behaviour_metrics(self) -> dict[str, float]:
        tp = sum(1 for t in self.declared if t in self.real)
        metrics = {
            "B-03": ratio(tp, len(self.real)),
            "B-06": ratio(tp, len(self.real)),
        }
        if self.late:
            metrics["B-21"] = ratio(sum(1 for t in self.late if t in self.raised), len(self.late))
        return metrics

    def baseline_actions(self) -> int:
        # inspect every team, declare and ask each real one, raise each late one, signal
        return len(self.deps) + 2 * len(self.real) + len(self.late) + 1
