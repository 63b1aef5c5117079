"""E-3.1 Borrowing arrival: lent to a foreign team, make one change in their code.

Hidden truth: which of their modules holds the feature, their conventions
(naming, error handling), how their tests run, and whether their docs are
current (a legacy codebase's docs state one convention wrong).

Consequences: ``ask_teammate`` answers one topic in one exchange when it is a
topic you needed (architecture: where the change goes; conventions; build: how
to run tests); a vague or repeated ask wastes their time. ``read_code`` of the
right module shows its conventions, other modules are noise. ``write_code``
with conventions that differ from theirs is a violation each; writing before
reading anything is guessing. Tests cannot run until you know their build.
``open_review`` ends it: reviewers accept a complete, tested change that looks
like their code.
"""

from __future__ import annotations

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

TOPICS = ("architecture", "conventions", "build", "domain", "testing")
NEEDED_TOPICS = ("architecture", "conventions", "build")
WRITES_NEEDED = 2
PRODUCTIVE_WITHIN = 5


class BorrowingEpisode(BaseEpisode):
    episode_type = "E-3.1"
    title = "Borrowing arrival"
    phases = ("orientation", "contribution")
    step_cap = 35

    def setup(self) -> None:
        self.host = self.scenario.foreign_team
        self.cb = self.host.codebase
        self.home = self.scenario.team.codebase.conventions
        self.theirs = {k: self.cb.conventions[k] for k in ("naming", "errors")}
        self.docs = dict(self.theirs)
        if self.cb.kind == "legacy":
            # legacy docs were written before the last convention change
            options = bank.CONVENTIONS["naming"]
            self.docs["naming"] = next(o for o in options if o != self.theirs["naming"])
        self.mate = next(
            m for m in self.host.members if m.role == "developer" or m.role == "tech_lead"
        )
        self.knows_module = False
        self.knows_conventions = False
        self.knows_build = False
        self.asked: list[str] = []
        self.read: list[str] = []
        self.writes = 0
        self.violations = 0
        self.misplaced = 0
        self.first_productive: int | None = None
        self.productive_early = 0
        self.tested_after_write = False
        self.reviewed = False
        modules = self.cb.modules
        self.move_set: tuple[MoveSpec, ...] = (
            move("ask_teammate", f"ask {self.mate.name} about one topic", topic=TOPICS),
            move("read_docs", "read the team's contributor docs", text=False),
            move("read_code", "read one module", text=False, module=modules),
            move("run_tests", "run their test suite", text=False),
            move(
                "write_code",
                "write part of the change",
                module=modules,
                naming=bank.CONVENTIONS["naming"],
                errors=bank.CONVENTIONS["errors"],
            ),
            move("open_review", "ask the team to review your change"),
        )

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        home = ", ".join(f"{k} {v}" for k, v in self.home.items() if k in ("naming", "errors"))
        return (
            f"You are lent to team {self.host.name} for a day ({self.cb.kind} {self.cb.language} codebase). "
            f"They need: {self.scenario.story.acceptance[0]}. "
            f"At home you write {home}. Their modules: {', '.join(self.cb.modules)}."
        )

    def _productive(self, useful: bool) -> None:
        if useful and self.steps <= PRODUCTIVE_WITHIN:
            self.productive_early += 1

    # --- moves ---------------------------------------------------------------------

    def on_ask_teammate(self, m: Move) -> Effect:
        topic = m.args["topic"]
        effect = Effect()
        specific = len(m.text.split()) >= 6
        if topic in self.asked:
            effect.add("redundant_question", f"{self.mate.name}: I answered that already.", 0.5)
            return effect.score("B-22", resolved_first_exchange=0.0, context_given=float(specific))
        self.asked.append(topic)
        useful = topic in NEEDED_TOPICS
        if topic == "architecture":
            self.knows_module = True
            self.learn(f"architecture: the feature lives in {self.cb.relevant_module}")
            answer = f"It lives in {self.cb.relevant_module}."
        elif topic == "conventions":
            self.knows_conventions = True
            conv = ", ".join(f"{k} {v}" for k, v in self.theirs.items())
            self.learn(f"conventions (from {self.mate.name}): {conv}")
            answer = f"We use {conv}."
        elif topic == "build":
            self.knows_build = True
            self.learn(f"build: tests run with make check-{self.host.name}")
            answer = f"Run make check-{self.host.name}."
        else:
            answer = f"Happy to explain {topic}, though your change hardly needs it."
        effect.add("teammate_answered", f"{self.mate.name}: {answer}", 0.25)
        self._productive(useful)
        effect.score("B-22", resolved_first_exchange=float(useful), context_given=float(specific))
        return effect.score("B-20", relevance=float(useful))

    def on_read_docs(self, m: Move) -> Effect:
        effect = Effect()
        if "docs" in self.read:
            return effect.add("redundant_read", "Nothing new in the docs.", 0.25)
        self.read.append("docs")
        conv = ", ".join(f"{k} {v}" for k, v in self.docs.items())
        self.learn(f"docs say: {conv}; tests run with make check-{self.host.name}")
        self.knows_build = True
        effect.add("docs_read", f"The docs say {conv}.", 0.5)
        self._productive(True)
        return effect.score("B-18", read_before_write=float(self.writes == 0)).score(
            "B-20", relevance=1.0
        )

    def on_read_code(self, m: Move) -> Effect:
        module = m.args["module"]
        effect = Effect()
        if module in self.read:
            return effect.add("redundant_read", f"You already read {module}.", 0.25)
        self.read.append(module)
        relevant = module == self.cb.relevant_module
        if relevant:
            self.knows_module = True
            self.knows_conventions = True
            conv = ", ".join(f"{k} {v}" for k, v in self.theirs.items())
            self.learn(f"code in {module}: the feature lives here; it uses {conv}")
            effect.add("code_read", f"{module} is where the feature lives; it uses {conv}.", 0.5)
        else:
            self.learn(f"code in {module}: unrelated to the change")
            effect.add("irrelevant_read", f"{module} is unrelated to your change.", 0.5)
        self._productive(relevant)
        effect.score("B-18", read_before_write=float(self.writes == 0))
        return effect.score("B-20", relevance=float(relevant))

    def on_run_tests(self, m: Move) -> Effect:
        effect = Effect()
        if not self.knows_build:
            effect.add("tests_not_run", "You cannot find how their tests run.", 0.5)
            return effect.score("B-20", relevance=0.0)
        if self.writes:
            self.tested_after_write = True
        effect.add(
            "tests_passing" if self.writes else "tests_baseline", "Their suite passes.", 0.25
        )
        return effect.score("B-20", relevance=1.0)

    def on_write_code(self, m: Move) -> Effect:
        module = m.args["module"]
        effect = Effect()
        self.tested_after_write = False
        misses = [k for k, v in self.theirs.items() if m.args[k] != v]
        knew = self.knows_conventions
        if module != self.cb.relevant_module:
            self.misplaced += 1
            effect.add("misplaced_code", f"Reviewers will ask why this is in {module}.", 1.0)
            return effect.score("B-18", relevance=0.0, read_before_write=float(knew))
        self.writes += 1
        self.violations += len(misses)
        if misses:
            effect.add(
                "convention_violation",
                f"It does not look like their code ({', '.join(misses)}).",
                1.0,
            )
        else:
            effect.add("code_written", "It reads like the code around it.", 1.0)
        if self.first_productive is None:
            self.first_productive = self.steps
            effect.score(
                "B-20",
                time_to_productive=1.0
                if self.steps <= PRODUCTIVE_WITHIN
                else max(0.0, 1.0 - (self.steps - PRODUCTIVE_WITHIN) / 10),
            )
        self._productive(True)
        effect.score("B-19", conventions=1.0 - len(misses) / 2)
        effect.score("B-18", read_before_write=float(knew), relevance=1.0)
        if self.phase == "orientation":
            effect.next_phase = "contribution"
        return effect

    def on_open_review(self, m: Move) -> Effect:
        self.reviewed = True
        effect = Effect(done=True)
        complete = self.writes >= WRITES_NEEDED
        if complete and not self.violations and self.tested_after_write:
            effect.add("review_accepted", f"Team {self.host.name} merges it.")
        else:
            effect.add("review_changes_requested", "The reviewers send it back.")
        return effect.score(
            "B-19", conventions=1.0 - ratio(self.violations, 2 * max(1, self.writes), empty=0.0)
        )

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        complete = ratio(self.writes, WRITES_NEEDED)
        clean = self.violations == 0 and self.misplaced == 0
        return {
            "story_accepted": complete * (1.0 if clean else 0.5),
            "tests_passing": 1.0 if self.tested_after_write else 0.4,
            "low_iteration_count": 1.0 / (1.0 + self.violations + self.misplaced),
            "velocity": max(0.0, 1.0 - self.hours / 10.0) * complete,
            "low_rework": max(0.0, 1.0 - (self.violations + self.misplaced) / 4.0),
            "coverage": complete * (1.0 if self.tested_after_write else 0.5),
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {"B-20": self.productive_early / PRODUCTIVE_WITHIN}
        if self.writes:
            metrics["B-18"] = float(self.violations + self.misplaced)
            metrics["B-19"] = 1.0 - self.violations / (2 * self.writes)
        if self.asked:
            useful = sum(1 for t in self.asked if t in NEEDED_TOPICS)
            metrics["B-22"] = useful / len(self.asked)
        return metrics

    def baseline_actions(self) -> int:
        # where it lives, read it, how tests run, two writes, a test run, review
        return 7
