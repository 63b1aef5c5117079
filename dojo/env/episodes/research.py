"""E-1.5 Research: close a knowledge gap from sources of uneven quality.

Hidden truth: which of five sources hold the answer, which are outdated (they
describe the API before its v3 release) and which are off-topic. Sources show
their kind and year once a search lists them; their content shows only when
fetched.

Consequences: a search on the gap's topic lists its sources, a vague
``general`` search lists everything at a higher cost, a search on the wrong
topic lists noise. ``synthesize`` commits to one fetched source as the basis of
the answer: a current, on-topic source gives a correct implementation; an
outdated one a wrong implementation that looks right; an unread one nothing.
``signal_sufficient`` ends the research: correct when a sound synthesis exists.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, move, ratio
from dojo.env.moves import Move, MoveSpec

SEARCH_COST = 0.25
FETCH_COST = 0.5
SOURCE_IDS = ("s1", "s2", "s3", "s4", "s5")
OPTIMAL_LOOKUPS = 2


class ResearchEpisode(BaseEpisode):
    episode_type = "E-1.5"
    title = "Research"
    phases = ("research",)
    step_cap = 25

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move("search", "search the web and docs", query=(*bank.RESEARCH_TOPICS, "general")),
        move("search_code", "search our own code", topic=bank.RESEARCH_TOPICS),
        move("fetch_doc", "read one listed source", source=SOURCE_IDS),
        move("synthesize", "write down the answer, based on one source", source=SOURCE_IDS),
        move(
            "assess_confidence", "say how sure you are of the answer", level=tuple(bank.CONFIDENCE)
        ),
        move("signal_sufficient", "end research: you know enough to build"),
    )

    def setup(self) -> None:
        self.gap = self.scenario.research
        self.sources = {s.id: s for s in self.gap.sources}
        self.listed: list[str] = []
        self.fetched: list[str] = []
        self.searches: list[str] = []
        self.lookups = 0
        self.basis: str | None = None
        self.confidence: float | None = None
        self.signalled = False

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        return f"Before building, you need to know {self.gap.question}. Nothing is read yet."

    def _label(self, sid: str) -> str:
        s = self.sources[sid]
        return f"{sid}: {bank.SOURCE_KINDS[s.kind][0]} ({s.year}), on {s.topic.replace('_', ' ')}"

    def _list(self, effect: Effect, ids: list[str]) -> int:
        new = [i for i in ids if i not in self.listed]
        for i in new:
            self.listed.append(i)
            self.learn(f"found {self._label(i)}")
        return len(new)

    def _sound(self, sid: str) -> bool:
        s = self.sources[sid]
        return s.answers and not s.outdated

    # --- moves ---------------------------------------------------------------------

    def on_search(self, m: Move) -> Effect:
        query = m.args["query"]
        effect = Effect()
        self.lookups += 1
        if query in self.searches:
            effect.add("redundant_search", "Same results as before.", SEARCH_COST)
            return effect.score("B-16", efficiency=0.0)
        self.searches.append(query)
        if query == "general":
            found = self._list(effect, list(self.sources))
            effect.add(
                "search_results",
                f"A broad search lists {found} new result(s), mostly noise.",
                2 * SEARCH_COST,
            )
            return effect.score("B-16", efficiency=0.3)
        hits = [s.id for s in self.gap.sources if s.topic == query and s.kind != "internal_code"]
        found = self._list(effect, hits)
        effect.add("search_results", f"The search lists {found} new result(s).", SEARCH_COST)
        return effect.score("B-16", efficiency=float(query == self.gap.topic and found > 0))

    def on_search_code(self, m: Move) -> Effect:
        topic = m.args["topic"]
        effect = Effect()
        self.lookups += 1
        hits = [s.id for s in self.gap.sources if s.kind == "internal_code" and s.topic == topic]
        if f"code:{topic}" in self.searches:
            effect.add("redundant_search", "Same results as before.", SEARCH_COST)
            return effect.score("B-16", efficiency=0.0)
        self.searches.append(f"code:{topic}")
        found = self._list(effect, hits)
        effect.add(
            "code_search_results", f"Our code has {found} match(es) for {topic}.", SEARCH_COST
        )
        return effect.score("B-16", efficiency=float(topic == self.gap.topic))

    def on_fetch_doc(self, m: Move) -> Effect:
        sid = m.args["source"]
        effect = Effect()
        if sid not in self.listed:
            effect.add("unknown_source", f"No search has listed {sid} yet.", 0.1)
            return effect.score("B-16", efficiency=0.0)
        if sid in self.fetched:
            effect.add("redundant_fetch", f"You already read {sid}.", 0.1)
            return effect.score("B-16", efficiency=0.0)
        self.fetched.append(sid)
        self.lookups += 1
        s = self.sources[sid]
        if s.topic != self.gap.topic:
            content = f"it is about {s.topic.replace('_', ' ')}, not your question"
        elif s.outdated:
            content = f"it explains the behaviour as of {s.year}, before the v3 release"
        elif s.answers:
            content = "it states exactly how v3 behaves, with examples"
        else:
            content = "it mentions the topic but never answers the question"
        self.learn(f"read {sid}: {content}")
        effect.add("source_read", f"{sid}: {content}.", FETCH_COST)
        return effect.score("B-17", recency=float(not s.outdated)).score(
            "B-16", efficiency=float(s.answers)
        )

    def on_synthesize(self, m: Move) -> Effect:
        sid = m.args["source"]
        effect = Effect()
        if sid not in self.fetched:
            effect.add("unread_basis", f"You never read {sid}; the answer is a guess.", 0.25)
            return effect.score("B-16", utilisation=0.0).score("B-17", utilisation=0.0)
        self.basis = sid
        s = self.sources[sid]
        self.learn(f"answer based on {sid}")
        effect.add("synthesized", f"You write down the answer from {sid}.", 0.25)
        used = float(self._sound(sid))
        effect.score("B-16", utilisation=used)
        return effect.score("B-17", utilisation=used, recency=float(not s.outdated))

    def on_assess_confidence(self, m: Move) -> Effect:
        level = m.args["level"]
        self.confidence = bank.CONFIDENCE[level]
        self.learn(f"confidence: {level}")
        return Effect().add("confidence_stated", f"You say you are {level}ly confident.", 0.05)

    def on_signal_sufficient(self, m: Move) -> Effect:
        self.signalled = True
        correct = self.basis is not None and self._sound(self.basis)
        effect = Effect(done=True)
        effect.add("research_closed", "Building starts on your answer.")
        if not correct:
            effect.add(
                "wrong_answer_built", "The build follows an answer that does not hold for v3."
            )
        return effect.score(
            "B-04",
            question_count_calibration=1.0
            - abs(self.lookups - OPTIMAL_LOOKUPS) / (2 * OPTIMAL_LOOKUPS),
            transition_signal=float(correct),
            outcome=self._accepted(),
        )

    # --- measurement ---------------------------------------------------------------

    def _accepted(self) -> float:
        if self.basis is None:
            return 0.0
        s = self.sources[self.basis]
        if self._sound(self.basis):
            return 1.0
        return 0.3 if s.outdated else 0.1

    def outcome_signals(self) -> dict[str, float]:
        accepted = self._accepted()
        return {
            "story_accepted": accepted,
            "tests_passing": 1.0 if accepted == 1.0 else 0.5 if accepted > 0 else 0.0,
            "low_iteration_count": 1.0 / (1.0 + (0 if accepted == 1.0 else 2)),
            "velocity": max(0.0, 1.0 - self.hours / 8.0) * (1.0 if self.signalled else 0.5),
            "low_rework": accepted,
            "coverage": 1.0 if accepted == 1.0 else 0.5,
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {"B-04": abs(self.lookups - OPTIMAL_LOOKUPS) / OPTIMAL_LOOKUPS}
        if self.fetched:
            used = self.basis is not None and self._sound(self.basis)
            metrics["B-16"] = ratio(float(used), len(self.fetched))
        if self.basis is not None:
            s = self.sources[self.basis]
            metrics["B-17"] = 0.0 if s.outdated else s.authority
        if self.confidence is not None and self.basis is not None:
            metrics["B-30"] = 1.0 - abs(self.confidence - float(self._sound(self.basis)))
        return metrics

    def baseline_actions(self) -> int:
        # search, search our code, read, read a second, synthesise, confidence, signal
        return 7
