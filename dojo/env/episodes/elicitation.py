"""E-1.1 Elicitation: question the product owner until the story is ready to plan.

Hidden truth (from :class:`~dojo.env.scenario.Story`): the ambiguous dimensions
(scope / users / acceptance), the hidden constraints by category (some cued in the
summary, some not), red-herring cues, the scope boundary, the optimal number of
questions.

Consequences:

* ``ask_question dimension=X`` — the product owner (PO) answers about X only.
  An ambiguous X gets clarified (``ambiguity_resolved``); a category with a hidden
  constraint gets it stated (``constraint_revealed``); ``scope`` also states the
  scope boundary; ``other`` ("anything else?") names one constraint the summary
  does not hint at, and says "nothing else" when none is left. Asking again about
  a covered dimension is ``redundant_question``: it costs double time and the
  PO's patience — three strikes or an overrun meeting and the PO leaves.
* ``state_assumption dimension=X`` — cheaper than a question. The PO confirms a
  right assumption and clears up an ambiguity, but in a busy meeting catches a
  wrong assumption about a hidden constraint only 60 % of the time: an
  unchallenged wrong assumption leaves the constraint hidden.
* ``request_example`` — the PO shows a concrete example, which settles what
  "done" means (the acceptance ambiguity).
* ``signal_ready`` — ends elicitation (``elicit_to_plan``); correct only when no
  ambiguity and no hidden constraint is left. Every constraint still hidden costs
  rework (4 h x severity) and acceptance later; unresolved ambiguity costs an
  iteration each; an unknown scope boundary invites gold plating.

A senior reads the cues, asks about each, closes with "anything else?", states
an assumption for what it did not ask, then signals. A junior asks one question
and signals at once, and pays in rework.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

QUESTION_COST = 0.25
ASSUMPTION_COST = 0.1
REDUNDANT_COST = 0.5
PO_STRIKES = 3
ASSUMPTION_CATCH_RATE = 0.6


class ElicitationEpisode(BaseEpisode):
    episode_type = "E-1.1"
    title = "Elicitation"
    phases = ("elicitation",)
    step_cap = 30

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move(
            "ask_question",
            "ask the product owner about one dimension",
            dimension=bank.QUESTION_DIMENSIONS,
        ),
        move(
            "state_assumption",
            "say what you will assume about one dimension",
            dimension=bank.QUESTION_DIMENSIONS[:-1],
        ),
        move("request_example", "ask for a concrete example of done"),
        move("signal_ready", "end elicitation: the story is ready to plan"),
    )

    def setup(self) -> None:
        story = self.scenario.story
        self.story = story
        self.po = self.scenario.team.by_role("product_owner")
        self.covered: set[str] = set()
        self.revealed: list[str] = []
        self.resolved: list[str] = []
        self.scope_known = False
        self.nothing_else = False
        self.example_given = False
        self.questions = 0
        self.changed = 0
        self.assumptions = 0
        self.strikes = 0
        self.signalled = False
        self.budget = QUESTION_COST * (story.optimal_questions + 6)
        self.fmt = {"entity": story.entity, "customers": story.customers}

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        s = self.story
        return (
            f"Story '{s.title}' for the {s.domain} product. {s.summary} "
            f"The product owner ({self.po.name}) has {self.budget:.2f} h for questions."
        )

    # --- moves ---------------------------------------------------------------------

    def _po(self, text: str) -> str:
        return f"{self.po.name} (product owner): {text}"

    def _reveal(self, effect: Effect, category: str, how: str, cost: float) -> None:
        c = self.story.constraint(category)
        assert c is not None
        self.revealed.append(category)
        self.learn(f"constraint ({category}): {c.statement}")
        effect.add(how, self._po(f"Yes: {c.statement}."), cost)
        effect.score("B-03", discovered_early=1.0)

    def _resolve(self, effect: Effect, dim: str, how: str, cost: float) -> None:
        self.resolved.append(dim)
        clarification = bank.CLARIFICATIONS[dim].format(**self.fmt)
        self.learn(f"clarified ({dim}): {clarification}")
        effect.add(how, self._po(f"To be precise: {clarification}."), cost)
        if dim == "scope":
            self._scope_boundary(effect, 0.0)

    def _scope_boundary(self, effect: Effect, cost: float) -> None:
        self.scope_known = True
        out = " and ".join(self.story.out_of_scope)
        self.learn(f"out of scope: {out}")
        effect.add("scope_clarified", self._po(f"Not in v1: {out}."), cost)

    def on_ask_question(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        effect = Effect()
        news = False
        if dim == "other":
            hidden = [
                c.category
                for c in self.story.constraints
                if not c.cued and c.category not in self.revealed
            ]
            if self.nothing_else:
                return self._redundant(effect, dim)
            self.questions += 1
            if hidden:
                self._reveal(effect, hidden[0], "constraint_revealed", QUESTION_COST)
                news = True
            else:
                self.nothing_else = True
                self.learn("nothing else (product owner)")
                effect.add(
                    "completeness_confirmed",
                    self._po("Nothing beyond what the ticket says."),
                    QUESTION_COST,
                )
                return self._tick(
                    effect.score(
                        "B-01", gap_coverage=1.0, implementation_change_rate=0.0, non_redundancy=1.0
                    )
                )
        elif dim in self.covered:
            return self._redundant(effect, dim)
        else:
            self.questions += 1
            self.covered.add(dim)
            if dim in self.story.ambiguous and dim not in self.resolved:
                self._resolve(effect, dim, "ambiguity_resolved", QUESTION_COST)
                news = True
            elif self.story.constraint(dim) is not None and dim not in self.revealed:
                self._reveal(effect, dim, "constraint_revealed", QUESTION_COST)
                news = True
            elif dim == "scope":
                self._scope_boundary(effect, QUESTION_COST)
                news = True
            else:
                self.learn(f"no constraint ({dim})")
                effect.add(
                    "answer_no_news", self._po(f"Nothing special about {dim}."), QUESTION_COST
                )
            if dim == "scope":
                effect.score("B-02", explicit_scope_question=1.0)
        if news:
            self.changed += 1
        effect.score(
            "B-01",
            gap_coverage=float(news),
            implementation_change_rate=float(news),
            non_redundancy=1.0,
        )
        return self._tick(effect)

    def on_state_assumption(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        effect = Effect()
        if dim in self.covered:
            self.strikes += 1
            effect.add(
                "redundant_assumption", self._po(f"We already covered {dim}."), REDUNDANT_COST
            )
            effect.score("B-04", assumptions_stated=0.0).score("B-01", non_redundancy=0.0)
            return self._tick(effect)
        self.covered.add(dim)
        self.assumptions += 1
        if dim in self.story.ambiguous and dim not in self.resolved:
            self._resolve(effect, dim, "assumption_corrected", ASSUMPTION_COST)
        elif self.story.constraint(dim) is not None and dim not in self.revealed:
            if self.rng.random() < ASSUMPTION_CATCH_RATE:
                self._reveal(effect, dim, "assumption_corrected", ASSUMPTION_COST)
            else:
                self.learn(f"assumed ({dim}): nothing special")
                effect.add("assumption_accepted", self._po("Sounds fine."), ASSUMPTION_COST)
        else:
            self.learn(f"assumed ({dim}): nothing special")
            effect.add(
                "assumption_confirmed", self._po("Right, nothing special there."), ASSUMPTION_COST
            )
        return self._tick(effect.score("B-04", assumptions_stated=1.0))

    def on_request_example(self, m: Move) -> Effect:
        effect = Effect()
        if self.example_given:
            return self._redundant(effect, "example")
        self.example_given = True
        self.questions += 1
        news = "acceptance" in self.story.ambiguous and "acceptance" not in self.resolved
        if news:
            self.covered.add("acceptance")
            self.changed += 1
            self._resolve(effect, "acceptance", "ambiguity_resolved", QUESTION_COST)
        else:
            self.learn(f"example: {self.story.acceptance[0]}")
            effect.add(
                "example_given",
                self._po(f"For example: {self.story.acceptance[0]}."),
                QUESTION_COST,
            )
        effect.score(
            "B-01",
            gap_coverage=float(news),
            implementation_change_rate=float(news),
            non_redundancy=1.0,
        )
        return self._tick(effect)

    def on_signal_ready(self, m: Move) -> Effect:
        self.signalled = True
        missing, unresolved = self._gaps()
        correct = not missing and not unresolved
        effect = Effect(transition="elicit_to_plan", transition_correct=correct, done=True)
        effect.add("ready_signalled", "Planning starts with what you found.")
        if not correct:
            effect.add(
                "premature_ready",
                f"Planning later hit {len(missing) + len(unresolved)} open question(s).",
            )
        opt = self.story.optimal_questions
        effect.score(
            "B-04",
            question_count_calibration=1.0 - abs(self.questions - opt) / opt,
            transition_signal=float(correct),
            assumptions_stated=float(self.assumptions > 0),
            outcome=self._accepted(),
        )
        effect.score(
            "B-03", categories_covered=ratio(len(self.revealed), len(self.story.constraints))
        )
        effect.score(
            "B-02",
            scope_match=self._scope_match(),
            gold_plating_penalty=float(not self.scope_known),
        )
        return effect

    def _redundant(self, effect: Effect, dim: str) -> Effect:
        self.questions += 1
        self.strikes += 1
        effect.add(
            "redundant_question", self._po(f"I already answered that ({dim})."), REDUNDANT_COST
        )
        effect.score("B-01", gap_coverage=0.0, implementation_change_rate=0.0, non_redundancy=0.0)
        return self._tick(effect)

    def _tick(self, effect: Effect) -> Effect:
        """The PO leaves when patience or the meeting's time runs out."""
        spent = self.hours + sum(c.cost for c in effect.consequences)
        if self.strikes >= PO_STRIKES or spent > self.budget:
            effect.done = True
            effect.add("stakeholder_left", self._po("I have to go; plan with what you have."))
        return effect

    # --- measurement ---------------------------------------------------------------

    def _gaps(self) -> tuple[list[str], list[str]]:
        missing = [c.category for c in self.story.constraints if c.category not in self.revealed]
        unresolved = [d for d in self.story.ambiguous if d not in self.resolved]
        return missing, unresolved

    def _accepted(self) -> float:
        missing, unresolved = self._gaps()
        return max(0.0, 1.0 - 0.35 * len(missing) - 0.25 * len(unresolved))

    def _scope_match(self) -> float:
        if "scope" in self.story.ambiguous and "scope" not in self.resolved:
            return 0.2
        return 1.0 if self.scope_known else 0.6

    def outcome_signals(self) -> dict[str, float]:
        missing, unresolved = self._gaps()
        severity = sum(c.severity for c in self.story.constraints if c.category in missing)
        rework = 4.0 * severity + 3.0 * len(unresolved) + (0.0 if self.scope_known else 2.0)
        optimal_hours = QUESTION_COST * self.story.optimal_questions
        overrun = ratio(self.hours - optimal_hours, optimal_hours, empty=0.0)
        criteria = len(self.story.acceptance)
        known_core = self.story.core_criteria - (1 if "acceptance" in unresolved else 0)
        signals = {
            "story_accepted": self._accepted(),
            "tests_passing": max(0.0, 1.0 - 0.25 * len(missing)),
            "low_iteration_count": 1.0 / (1 + len(missing) + len(unresolved)),
            "velocity": max(0.0, 1.0 - 0.5 * overrun - rework / 40.0),
            "low_rework": max(0.0, 1.0 - rework / 24.0),
            "coverage": ratio(known_core + len(self.revealed), criteria),
        }
        if not self.signalled:
            signals["velocity"] *= 0.5
        return signals

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {
            "B-02": self._scope_match(),
            "B-03": ratio(len(self.revealed), len(self.story.constraints)),
            "B-04": abs(self.questions - self.story.optimal_questions)
            / self.story.optimal_questions,
        }
        if self.questions:
            metrics["B-01"] = self.changed / self.questions
        return metrics

    def baseline_actions(self) -> int:
        # every needed question, one assumption, the signal, and the red herrings a
        # careful reader cannot tell from real cues
        return self.story.optimal_questions + 2 + len(self.story.red_herrings)
