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
    """What the three phases share: the developer, the notes, endings, the observation.

    A phase is the simulator's ``episode`` played with a developer: its type, title,
    phase and step cap are that episode's, and so are its moves (``MOVES``, unless the
    phase builds them).
    """

    episode: ClassVar[type[BaseEpisode]]
    baseline: ClassVar[int]
    MOVES: ClassVar[tuple[MoveSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        simulated = cls.episode
        cls.episode_type, cls.title = simulated.episode_type, simulated.title
        cls.phases, cls.step_cap = simulated.phases, simulated.step_cap

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

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

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

    def confirm(self, view: MoveView) -> str | None:
        """Ask the developer to confirm what ``view`` shows ("Enter agrees; or say ...").
        Returns ``""`` where they agree, what they said where they do not; ``None``:
        they ended the phase or the session."""
        reply = self.ask(view)
        return None if reply is None else "" if reply.lower() in YES else reply

    def commented(self, effect: Effect, comment: str | None) -> Effect:
        """The effect of a move the developer may comment on: with their comment, if they
        made one; ``None``: they ended the phase or the session instead."""
        if comment is None:
            return self.ended(effect)
        return self.answered(effect, "developer_comment", comment) if comment else effect

    def noted(self, title: str, kind: str, text: str) -> Effect:
        """A move that cannot be made as it stands: the developer is shown why, nothing is
        asked."""
        self.tell(self.view("note", title, text, reply=False))
        return Effect().add(kind, text)

    def question(
        self,
        view: MoveView,
        topic: str,
        fact: str,
        kind: str,
        no_answer: str,
        *,
        clarifies: bool = True,
        learn_open: bool = False,
    ) -> Effect:
        """Ask the question ``view`` shows about ``topic``. An answer is a known fact
        (``<fact>: <answer>``) and, where it ``clarifies``, a clarification in the notes;
        the move's consequence is ``kind``. Without one the question stays open in the
        notes (with ``learn_open``, as a known fact too): silence reads ``no_answer``."""
        question = view.body
        reply = self.ask(view)
        if reply is None:
            return self.ended(Effect())
        if not reply:
            self.notes.open_questions.append(OpenQuestion(dimension=topic, question=question))
            if learn_open:
                self.learn(f"open ({topic}): {question}")
            return Effect().add("no_answer", f"developer: ({no_answer})")
        if clarifies:
            self.notes.clarified.append(
                Clarification(dimension=topic, question=question, answer=reply)
            )
        self.learn(f"{fact}: {reply}")
        return self.answered(Effect(), kind, reply)

    def checkpoint(self, m: Move, title: str, transition: Transition | None) -> Effect:
        """A ``signal_*`` move: the phase ends when the developer agrees."""
        body = m.text or title
        missing = self.confirm(
            self.view("checkpoint", title, body, hint="Enter agrees; or say what is missing")
        )
        effect = Effect()
        if missing is None:
            return self.ended(effect)
        effect.transition = transition
        effect.transition_correct = not missing if transition is not None else None
        if not missing:
            effect.done = True
            return effect.add("checkpoint_agreed", "developer: agreed, go on")
        # what the developer says is missing is scope the brief must carry
        self.notes.clarified.append(
            Clarification(dimension=f"{self.phase} checkpoint", question=title, answer=missing)
        )
        self.learn(f"not yet: {missing}")
        return effect.add("checkpoint_refused", f"developer: not yet: {missing}")


# --- elicitation (E-1.1) ------------------------------------------------------------------


class ChatElicitation(ChatPhase):
    episode = ElicitationEpisode
    baseline = 6
    MOVES = ElicitationEpisode.MOVES

    def on_ask_question(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        question = m.text or (
            "Anything else I should know?" if dim == "other" else f"What should I know about {dim}?"
        )
        view = self.view("question", f"Question ({dim})", question, hint="your answer")
        return self.question(
            view, dim, f"answer ({dim})", "developer_answer", "no answer yet", learn_open=True
        )

    def on_state_assumption(self, m: Move) -> Effect:
        dim = m.args["dimension"]
        statement = m.text or f"I will assume nothing special about {dim}."
        correction = self.confirm(
            self.view(
                "assumption", f"Assumption ({dim})", statement, hint="Enter confirms; or correct it"
            )
        )
        effect = Effect()
        if correction is None:
            return self.ended(effect)
        if not correction:
            self.notes.assumptions.append(
                Assumption(dimension=dim, statement=statement, confirmed=True)
            )
            self.learn(f"assumed ({dim}): {statement}")
            return effect.add("assumption_confirmed", "developer: right")
        self.notes.assumptions.append(
            Assumption(dimension=dim, statement=statement, confirmed=False, correction=correction)
        )
        self.learn(f"corrected ({dim}): {correction}")
        return self.answered(effect, "assumption_corrected", correction)

    def on_request_example(self, m: Move) -> Effect:
        question = m.text or "Could you give me a concrete example of done?"
        view = self.view("question", "Example of done", question, hint="an example")
        return self.question(view, "acceptance", "example", "example_given", "no example yet")

    def on_signal_ready(self, m: Move) -> Effect:
        return self.checkpoint(m, "Ready to plan?", "elicit_to_plan")


# --- research (E-1.5) ----------------------------------------------------------------------


class ChatResearch(ChatPhase):
    episode = ResearchEpisode
    baseline = 7
    MOVES = ResearchEpisode.MOVES

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
        return self.commented(effect, reply)

    def on_search(self, m: Move) -> Effect:
        return self._search(m, m.args["query"], code=None)

    def on_search_code(self, m: Move) -> Effect:
        return self._search(m, m.args["topic"], code=True)

    def on_fetch_doc(self, m: Move) -> Effect:
        sid = m.args["source"]
        source = self.notes.sources.get(sid)
        if source is None:
            return self.noted(f"Read {sid}", "unknown_source", f"No search has listed {sid} yet.")
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
        read = Effect().add("source_read", f"{sid} ({source.label}): {clean(source.text, 400)}")
        return self.commented(read, reply)

    def on_synthesize(self, m: Move) -> Effect:
        sid = m.args["source"]
        source = self.notes.sources.get(sid)
        if source is None or not source.read:
            text = f"{sid} was never read; the answer would be a guess."
            return self.noted(f"Finding from {sid}", "unread_basis", text)
        text = m.text or f"The answer rests on {source.label}."
        hint = "Enter accepts; or correct it"
        view = self.view("research", f"Finding from {sid}", text, source=source.label, hint=hint)
        correction = self.confirm(view)
        if correction is None:
            return self.ended(Effect())
        self.notes.findings.append(
            Finding(source_id=sid, source=source.label, text=text, correction=correction)
        )
        self.learn(f"answer based on {sid}" + (f", corrected: {correction}" if correction else ""))
        return self.commented(
            Effect().add("synthesized", f"You write down the answer from {sid}."), correction
        )

    def on_assess_confidence(self, m: Move) -> Effect:
        level = m.args["level"]
        self.notes.confidence = level
        self.learn(f"confidence: {level}")
        reply = self.ask(
            self.view("research", f"Confidence: {level}", m.text, hint="Enter goes on; or comment")
        )
        stated = Effect().add("confidence_stated", f"You say you are {level}ly confident.")
        return self.commented(stated, reply)

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
    episode = DecompositionEpisode
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
        planned = [t.component for t in self.notes.tasks]
        if comp in planned:
            text = f"{comp} is already task {planned.index(comp) + 1}."
            return self.noted("Duplicate task", "duplicate_task", text)
        n = len(planned) + 1
        text = m.text or f"Build {comp.replace('_', ' ')}."
        reply = self.ask(
            self.view(
                "task", f"Task {n}: {comp}", text, hint="Enter accepts; '-' drops it; or add a note"
            )
        )
        if reply is None:
            return self.ended(Effect())
        if reply.lower() in NO:
            self.learn(f"dropped: {comp}")
            return Effect().add("task_dropped", f"developer: no task for {comp}")
        note = "" if reply.lower() in YES else reply
        self.notes.tasks.append(PlanTask(component=comp, text=text, note=note))
        self.learn(f"task {n}: {comp}" + (f" ({note})" if note else ""))
        return self.commented(Effect().add("task_created", f"Task {n}: {comp}."), note)

    def on_identify_risk(self, m: Move) -> Effect:
        comp = m.args["component"]
        text = m.text or f"{comp} is the riskiest part."
        comment = self.confirm(
            self.view("risk", f"Risk: {comp}", text, hint="Enter agrees; or comment")
        )
        if comment is None:
            return self.ended(Effect())
        self.notes.risks.append(Risk(component=comp, text=text, comment=comment))
        self.learn(f"risk named: {comp}" + (f" ({comment})" if comment else ""))
        flagged = Effect().add("risk_identified", f"You flag {comp} as the main risk.")
        return self.commented(flagged, comment)

    def on_spike(self, m: Move) -> Effect:
        comp = m.args["component"]
        question = m.text or f"How risky is {comp} really? What would a quick probe show?"
        view = self.view("question", f"Spike: {comp}", question, hint="what you know")
        return self.question(
            view, comp, f"spike ({comp})", "spike_result", "not known yet", clarifies=False
        )

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
        return self.commented(effect, reply)

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
        why_not = self.confirm(
            self.view(
                "approach", f"Go with {approach}?", m.text, hint="Enter agrees; or say why not"
            )
        )
        effect = Effect()
        if why_not is None:
            return self.ended(effect)
        if not why_not:
            self.notes.chosen_approach = approach
            self.learn(f"chosen approach: {approach}")
            return effect.add("approach_chosen", f"The team goes with {approach}.")
        self.learn(f"not {approach}: {why_not}")
        return effect.add("approach_refused", f"developer: not {approach}: {why_not}")

    def on_signal_plan_complete(self, m: Move) -> Effect:
        return self.checkpoint(m, "Is the plan ready?", "plan_to_execute")


PHASE_CLASSES: dict[str, type[ChatPhase]] = {
    "elicitation": ChatElicitation,
    "research": ChatResearch,
    "planning": ChatPlanning,
}
