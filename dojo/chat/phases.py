"""The protocol's phases with a real developer: elicitation, research, planning.

Each phase is an episode of the simulator's kind (E-1.1, E-1.5, E-1.2) with the
same moves and the same observation text, built by
:class:`~dojo.env.episodes.base.BaseEpisode`; only the counterpart differs. Where
the simulated product owner or tech lead would answer from a hidden truth, the
developer answers in free text, and the answer becomes the next observation's
message (``developer: …``) and, where it settles something, a known fact. Research
moves search the ``--docs`` index instead of a generated source list. There is no
hidden truth, so moves carry no simulator signals; a checkpoint call (``signal_*``)
is right when the developer agrees (``transition_correct``).

The developer may answer ``/next`` (end this phase now) or ``/done`` (end the
session and write the brief); Ctrl-C or the end of input ends the session too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from dojo.chat.docs_index import DocsIndex
from dojo.chat.notes import (
    CHAT_PHASES,
    Assumption,
    Clarification,
    Dependency,
    Finding,
    OpenQuestion,
    PlanTask,
    Risk,
    SessionNotes,
    Source,
)
from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect
from dojo.env.episodes.decomposition import DecompositionEpisode, planning_moves
from dojo.env.episodes.elicitation import ElicitationEpisode
from dojo.env.episodes.research import SOURCE_IDS, ResearchEpisode
from dojo.env.moves import Move, MoveSpec
from dojo.env.protocol import EpisodeSpec, Observation, PhaseEvent, Transition
from dojo.env.scenario import Scenario, generate_scenario

NEXT = "/next"
DONE = "/done"
MAX_REPLY_CHARS = 1000
FACT_CHARS = 240
EXCERPT_CHARS = 700
Kind = Literal[
    "question", "assumption", "research", "task", "risk", "dependency", "approach",
    "checkpoint", "note",
]  # fmt: skip
Ending = Literal["next", "done", "interrupted"]
YES = frozenset({"", "y", "yes", "ok", "okay", "sure", "right", "correct", "agreed"})
NO = frozenset({"-", "n", "no", "drop", "nope", "wrong"})


@dataclass(frozen=True)
class MoveView:
    """One move as the developer sees it."""

    number: int
    phase: str
    kind: Kind
    title: str
    body: str = ""
    source: str | None = None
    hint: str = ""
    reply: bool = True  # False: shown, nothing asked


class Developer(Protocol):
    """The person at the terminal (or a scripted one in tests)."""

    def respond(self, view: MoveView) -> str:
        """Show ``view`` and return the answer; may raise KeyboardInterrupt or EOFError."""
        ...

    def show(self, view: MoveView) -> None: ...


def clean(text: str, limit: int = MAX_REPLY_CHARS) -> str:
    """Whitespace collapsed, cut at ``limit``."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SCENARIO: Scenario | None = None


def _scenario() -> Scenario:
    """The base class wants a scenario; a chat reads none of it (no hidden truth)."""
    global _SCENARIO
    if _SCENARIO is None:
        _SCENARIO = generate_scenario(0, 0.5)
    return _SCENARIO


class ChatPhase(BaseEpisode):
    """What the three phases share: the developer, the notes, endings, the observation."""

    baseline: ClassVar[int]

    def __init__(
        self,
        spec: EpisodeSpec,
        notes: SessionNotes,
        developer: Developer,
        docs: DocsIndex | None = None,
    ) -> None:
        self.notes = notes
        self.developer = developer
        self.docs = docs
        self.ending: Ending | None = None
        super().__init__(spec, _scenario())
        # facts this phase established before a resume
        self.known = list(notes.known.get(self.phase, []))

    # --- the protocol's pieces ------------------------------------------------------

    def brief(self) -> str:
        before = self.notes.summary()
        task = clean(self.notes.task, 1500)
        return f"The developer's task: {task}" + (f" So far: {before}" if before else "")

    def outcome_signals(self) -> dict[str, float]:
        return {}  # no hidden truth to measure against

    def behaviour_metrics(self) -> dict[str, float]:
        return {}

    def baseline_actions(self) -> int:
        return self.baseline

    def observe(self) -> Observation:
        """The simulator's observation, its first line told as a solo session (as the
        solo protocol tells its phases)."""
        observation = super().observe()
        _, _, rest = observation.text.partition("\n")
        index = CHAT_PHASES.index(self.phase) + 1
        header = (
            "Solo session: you work alone with a developer, who owns this task and answers "
            f"at the terminal. Phase {index} of {len(CHAT_PHASES)}: {self.phase} "
            f"({self.title}, episode {self.episode_type})."
        )
        return observation.model_copy(update={"text": f"{header}\n{rest}"})

    def closing_event(self) -> PhaseEvent:
        """The phase's PhaseCompleted, for a session stopped between moves."""
        self.done = True
        return self._phase_completed()

    def learn(self, fact: str) -> None:
        fact = clean(fact, FACT_CHARS)
        super().learn(fact)
        known = self.notes.known.setdefault(self.phase, [])
        if fact not in known:
            known.append(fact)

    # --- talking to the developer ---------------------------------------------------

    def view(self, kind: Kind, title: str, body: str = "", **extra: object) -> MoveView:
        return MoveView(
            number=len(self.notes.decisions) + 1,
            phase=self.phase,
            kind=kind,
            title=title,
            body=body,
            **extra,  # type: ignore[arg-type]
        )

    def ask(self, view: MoveView) -> str | None:
        """The developer's answer, cleaned; None when they ended the phase or the session
        (``self.ending`` says which)."""
        try:
            raw = self.developer.respond(view)
        except (KeyboardInterrupt, EOFError):
            self.ending = "interrupted"
            return None
        text = clean(raw)
        if text.lower() == NEXT:
            self.ending = "next"
            return None
        if text.lower() == DONE:
            self.ending = "done"
            return None
        return text

    def tell(self, view: MoveView) -> None:
        self.developer.show(view)

    def ended(self, effect: Effect) -> Effect:
        """The developer ended the phase (or the session) before the move's checkpoint."""
        assert self.ending is not None
        self.truncated = True
        effect.done = True
        text = {
            "next": "developer: let's move on to the next phase",
            "done": "developer: that's enough, write the brief",
            "interrupted": "the developer left the session",
        }[self.ending]
        return effect.add(f"developer_{self.ending}", text)

    def answered(self, effect: Effect, kind: str, reply: str) -> Effect:
        return effect.add(kind, f"developer: {reply}" if reply else "developer: (no comment)")

    def checkpoint(self, m: Move, title: str, transition: Transition | None) -> Effect:
        """A ``signal_*`` move: the phase ends when the developer agrees."""
        body = m.text or title
        reply = self.ask(
            self.view("checkpoint", title, body, hint="Enter agrees; or say what is missing")
        )
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        agreed = reply.lower() in YES
        effect.transition = transition
        effect.transition_correct = agreed if transition is not None else None
        if agreed:
            effect.done = True
            return effect.add("checkpoint_agreed", "developer: agreed, go on")
        # what the developer says is missing is scope the brief must carry
        self.notes.clarified.append(
            Clarification(dimension=f"{self.phase} checkpoint", question=title, answer=reply)
        )
        self.learn(f"not yet: {reply}")
        return effect.add("checkpoint_refused", f"developer: not yet: {reply}")


# --- elicitation (E-1.1) ------------------------------------------------------------------


class ChatElicitation(ChatPhase):
    episode_type = "E-1.1"
    title = "Elicitation"
    phases = ("elicitation",)
    step_cap = ElicitationEpisode.step_cap
    baseline = 6
    MOVES: ClassVar[tuple[MoveSpec, ...]] = ElicitationEpisode.MOVES

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def on_ask_question(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        question = m.text or (
            "Anything else I should know?" if dim == "other" else f"What should I know about {dim}?"
        )
        reply = self.ask(self.view("question", f"Question ({dim})", question, hint="your answer"))
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if not reply:
            self.notes.open_questions.append(OpenQuestion(dimension=dim, question=question))
            self.learn(f"open ({dim}): {question}")
            return effect.add("no_answer", "developer: (no answer yet)")
        self.notes.clarified.append(Clarification(dimension=dim, question=question, answer=reply))
        self.learn(f"answer ({dim}): {reply}")
        return self.answered(effect, "developer_answer", reply)

    def on_state_assumption(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        statement = m.text or f"I will assume nothing special about {dim}."
        reply = self.ask(
            self.view(
                "assumption",
                f"Assumption ({dim})",
                statement,
                hint="Enter confirms; or correct it",
            )
        )
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if reply.lower() in YES:
            self.notes.assumptions.append(
                Assumption(dimension=dim, statement=statement, confirmed=True)
            )
            self.learn(f"assumed ({dim}): {statement}")
            return effect.add("assumption_confirmed", "developer: right")
        self.notes.assumptions.append(
            Assumption(dimension=dim, statement=statement, confirmed=False, correction=reply)
        )
        self.learn(f"corrected ({dim}): {reply}")
        return self.answered(effect, "assumption_corrected", reply)

    def on_request_example(self, m: Move) -> Effect:
        question = m.text or "Could you give me a concrete example of done?"
        reply = self.ask(self.view("question", "Example of done", question, hint="an example"))
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if not reply:
            self.notes.open_questions.append(
                OpenQuestion(dimension="acceptance", question=question)
            )
            return effect.add("no_answer", "developer: (no example yet)")
        self.notes.clarified.append(
            Clarification(dimension="acceptance", question=question, answer=reply)
        )
        self.learn(f"example: {reply}")
        return self.answered(effect, "example_given", reply)

    def on_signal_ready(self, m: Move) -> Effect:
        return self.checkpoint(m, "Ready to plan?", "elicit_to_plan")


# --- research (E-1.5) ----------------------------------------------------------------------


class ChatResearch(ChatPhase):
    episode_type = "E-1.5"
    title = "Research"
    phases = ("research",)
    step_cap = ResearchEpisode.step_cap
    baseline = 7
    MOVES: ClassVar[tuple[MoveSpec, ...]] = ResearchEpisode.MOVES

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def _search(self, m: Move, what: str, *, code: bool | None) -> Effect:
        # the move's own words, with its topic; without words, the topic in the task's context
        topic = what.replace("_", " ")
        query = f"{m.text} {topic}" if m.text else f"{topic} {clean(self.notes.task, 200)}"
        effect = Effect()
        free = [s for s in SOURCE_IDS if s not in self.notes.sources]
        listed = {s.label for s in self.notes.sources.values()}
        hits = [] if self.docs is None else self.docs.search(query, k=5, code=code)
        new = [h for h in hits if h.passage.label not in listed][: len(free)]
        for sid, hit in zip(free, new, strict=False):
            p = hit.passage
            self.notes.sources[sid] = Source(
                source_id=sid, path=p.path, lines=f"{p.first}-{p.last}", text=p.text
            )
            self.learn(f"found {sid}: {p.label}")
        found = [self.notes.sources[s] for s in free[: len(new)]]
        where = "our code" if code else "the documents"
        if self.docs is None:
            body = "No documents to search: start dojo chat with --docs DIR."
        elif found:
            body = "\n".join(f"{s.source_id}  {s.label}" for s in found)
        elif not free:
            body = "Five sources are listed already; read one or write down what they say."
        else:
            body = "Nothing new found."
        reply = self.ask(
            self.view(
                "research", f"Search {where}: {query}", body, hint="Enter goes on; or comment"
            )
        )
        summary = ", ".join(f"{s.source_id} {s.label}" for s in found) or "nothing new"
        effect.add("search_results", f"search '{clean(query, 120)}' in {where}: {summary}")
        if reply is None:
            return self.ended(effect)
        return self.answered(effect, "developer_comment", reply) if reply else effect

    def on_search(self, m: Move) -> Effect:
        return self._search(m, m.args["query"], code=None)

    def on_search_code(self, m: Move) -> Effect:
        return self._search(m, m.args["topic"], code=True)

    def on_fetch_doc(self, m: Move) -> Effect:
        sid = m.args["source"]
        source = self.notes.sources.get(sid)
        effect = Effect()
        if source is None:
            self.tell(
                self.view("note", f"Read {sid}", f"No search has listed {sid} yet.", reply=False)
            )
            return effect.add("unknown_source", f"No search has listed {sid} yet.")
        source.read = True
        excerpt = source.text[:EXCERPT_CHARS]
        reply = self.ask(
            self.view(
                "research",
                f"Read {sid}",
                excerpt,
                source=source.label,
                hint="Enter goes on; or comment",
            )
        )
        self.learn(f"read {sid} ({source.label}): {clean(source.text, 160)}")
        effect.add("source_read", f"{sid} ({source.label}): {clean(source.text, 400)}")
        if reply is None:
            return self.ended(effect)
        return self.answered(effect, "developer_comment", reply) if reply else effect

    def on_synthesize(self, m: Move) -> Effect:
        sid = m.args["source"]
        source = self.notes.sources.get(sid)
        effect = Effect()
        if source is None or not source.read:
            text = f"{sid} was never read; the answer would be a guess."
            self.tell(self.view("note", f"Finding from {sid}", text, reply=False))
            return effect.add("unread_basis", text)
        text = m.text or f"The answer rests on {source.label}."
        reply = self.ask(
            self.view(
                "research",
                f"Finding from {sid}",
                text,
                source=source.label,
                hint="Enter accepts; or correct it",
            )
        )
        if reply is None:
            return self.ended(effect)
        correction = "" if reply.lower() in YES else reply
        self.notes.findings.append(
            Finding(source_id=sid, source=source.label, text=text, correction=correction)
        )
        self.learn(f"answer based on {sid}" + (f", corrected: {correction}" if correction else ""))
        effect.add("synthesized", f"You write down the answer from {sid}.")
        return self.answered(effect, "developer_comment", reply) if correction else effect

    def on_assess_confidence(self, m: Move) -> Effect:
        level = m.args["level"]
        self.notes.confidence = level
        self.learn(f"confidence: {level}")
        reply = self.ask(
            self.view("research", f"Confidence: {level}", m.text, hint="Enter goes on; or comment")
        )
        effect = Effect().add("confidence_stated", f"You say you are {level}ly confident.")
        if reply is None:
            return self.ended(effect)
        return self.answered(effect, "developer_comment", reply) if reply else effect

    def on_signal_sufficient(self, m: Move) -> Effect:
        return self.checkpoint(m, "Enough research to plan?", None)


# --- planning (E-1.2) ----------------------------------------------------------------------

DEFAULT_COMPONENTS: tuple[str, ...] = tuple(sorted(bank.COMPONENTS))


def component_name(text: str) -> str:
    """A developer's name for a part of the work as a grammar value: ``Parse config`` ->
    ``parse_config``."""
    name = "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
    if name and not name[0].isalpha():
        name = f"c_{name}"
    return name[:40]


class ChatPlanning(ChatPhase):
    episode_type = "E-1.2"
    title = "Decomposition"
    phases = ("planning",)
    step_cap = DecompositionEpisode.step_cap
    baseline = 10

    def setup(self) -> None:
        comps = tuple(self.notes.components) or DEFAULT_COMPONENTS
        # the simulator's planning moves, over the developer's components
        self.move_set = planning_moves(comps, tuple(bank.APPROACHES), counterpart="the developer")

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.move_set

    def brief(self) -> str:
        comps = ", ".join(self.notes.components or DEFAULT_COMPONENTS)
        return (
            f"{super().brief()} Components on the table: {comps}. "
            f"Approaches: {', '.join(bank.APPROACHES)}."
        )

    def on_create_task(self, m: Move) -> Effect:
        comp = m.args["component"]
        effect = Effect()
        planned = [t.component for t in self.notes.tasks]
        if comp in planned:
            text = f"{comp} is already task {planned.index(comp) + 1}."
            self.tell(self.view("note", "Duplicate task", text, reply=False))
            return effect.add("duplicate_task", text)
        n = len(planned) + 1
        text = m.text or f"Build {comp.replace('_', ' ')}."
        reply = self.ask(
            self.view(
                "task", f"Task {n}: {comp}", text, hint="Enter accepts; '-' drops it; or add a note"
            )
        )
        if reply is None:
            return self.ended(effect)
        if reply.lower() in NO:
            self.learn(f"dropped: {comp}")
            return effect.add("task_dropped", f"developer: no task for {comp}")
        note = "" if reply.lower() in YES else reply
        self.notes.tasks.append(PlanTask(component=comp, text=text, note=note))
        self.learn(f"task {n}: {comp}" + (f" ({note})" if note else ""))
        effect.add("task_created", f"Task {n}: {comp}.")
        return self.answered(effect, "developer_comment", note) if note else effect

    def on_identify_risk(self, m: Move) -> Effect:
        comp = m.args["component"]
        text = m.text or f"{comp} is the riskiest part."
        reply = self.ask(self.view("risk", f"Risk: {comp}", text, hint="Enter agrees; or comment"))
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        comment = "" if reply.lower() in YES else reply
        self.notes.risks.append(Risk(component=comp, text=text, comment=comment))
        self.learn(f"risk named: {comp}" + (f" ({comment})" if comment else ""))
        effect.add("risk_identified", f"You flag {comp} as the main risk.")
        return self.answered(effect, "developer_comment", comment) if comment else effect

    def on_spike(self, m: Move) -> Effect:
        comp = m.args["component"]
        question = m.text or f"How risky is {comp} really? What would a quick probe show?"
        reply = self.ask(self.view("question", f"Spike: {comp}", question, hint="what you know"))
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if not reply:
            self.notes.open_questions.append(OpenQuestion(dimension=comp, question=question))
            return effect.add("no_answer", "developer: (not known yet)")
        self.learn(f"spike ({comp}): {reply}")
        return self.answered(effect, "spike_result", reply)

    def on_add_dependency(self, m: Move) -> Effect:
        task, needs, kind = m.args["task"], m.args["needs"], m.args["kind"]
        effect = Effect()
        if task == needs:
            return effect.add("false_dependency", f"{task} cannot depend on itself.")
        reply = self.ask(
            self.view(
                "dependency",
                f"{task} needs {needs} ({kind})",
                m.text,
                hint="Enter confirms; 'n' rejects",
            )
        )
        if reply is None:
            return self.ended(effect)
        if reply.lower() in NO:
            self.learn(f"no dependency: {task} on {needs}")
            return effect.add("false_dependency", f"developer: {task} does not need {needs}")
        if not any(d.task == task and d.needs == needs for d in self.notes.dependencies):
            self.notes.dependencies.append(Dependency(task=task, needs=needs, kind=kind))
        self.learn(f"dependency: {task} needs {needs} ({kind})")
        effect.add("dependency_confirmed", f"developer: right, {task} needs {needs}")
        return (
            self.answered(effect, "developer_comment", reply)
            if reply.lower() not in YES
            else effect
        )

    def on_propose_approach(self, m: Move) -> Effect:
        approach = m.args["approach"]
        text = m.text or f"We could {approach.replace('_', ' ')}."
        reply = self.ask(
            self.view("approach", f"Approach: {approach}", text, hint="Enter goes on; or comment")
        )
        effect = Effect()
        if approach not in self.notes.approaches:
            self.notes.approaches.append(approach)
        self.learn(f"proposed: {approach}")
        effect.add("approach_proposed", f"{approach} is on the table.")
        if reply is None:
            return self.ended(effect)
        return self.answered(effect, "developer_comment", reply) if reply else effect

    def on_compare_approaches(self, m: Move) -> Effect:
        on_table = ", ".join(self.notes.approaches) or "none yet"
        question = m.text or f"How do these compare here: {on_table}?"
        reply = self.ask(self.view("question", "Compare approaches", question, hint="your view"))
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if reply:
            self.learn(f"compared: {reply}")
        return self.answered(effect, "approaches_compared", reply)

    def on_choose_approach(self, m: Move) -> Effect:
        approach = m.args["approach"]
        reply = self.ask(
            self.view(
                "approach", f"Go with {approach}?", m.text, hint="Enter agrees; or say why not"
            )
        )
        effect = Effect()
        if reply is None:
            return self.ended(effect)
        if reply.lower() in YES:
            self.notes.chosen_approach = approach
            self.learn(f"chosen approach: {approach}")
            return effect.add("approach_chosen", f"The team goes with {approach}.")
        self.learn(f"not {approach}: {reply}")
        return effect.add("approach_refused", f"developer: not {approach}: {reply}")

    def on_signal_plan_complete(self, m: Move) -> Effect:
        return self.checkpoint(m, "Is the plan ready?", "plan_to_execute")


PHASE_CLASSES: dict[str, type[ChatPhase]] = {
    "elicitation": ChatElicitation,
    "research": ChatResearch,
    "planning": ChatPlanning,
}
