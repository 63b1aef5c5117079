"""A chat session as a step machine: the phases in order, each an episode recorded.

``start`` opens the first phase not yet over (a resumed session continues where it
stopped); ``apply`` plays the model's move on the awaited observation — the
developer answers inside it — and returns nothing: read ``observation`` for the
next move due (None: the session is over, or stopped). The events so far are
``events``; ``notes`` is what the brief is written from.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from dojo.chat.docs_index import DocsIndex
from dojo.chat.notes import CHAT_PHASES, DecisionRef, SessionNotes
from dojo.chat.phases import (
    DEFAULT_COMPONENTS,
    DONE,
    NEXT,
    PHASE_CLASSES,
    ChatPhase,
    Developer,
    MoveView,
    clean,
    component_name,
)
from dojo.chat.record import SOURCE, ChatRun
from dojo.env.moves import format_move
from dojo.env.protocol import HELD_OUT_SEED_BASE, EpisodeSpec, Observation
from dojo.events import AnyEvent, DecisionMade, Stamper
from dojo.workers.rollout import Action

MAX_COMPONENTS = 30


class ChatSession:
    """One developer, one model, one task: elicitation → research → planning."""

    def __init__(
        self,
        notes: SessionNotes,
        developer: Developer,
        *,
        policy_version: str,
        docs: DocsIndex | None = None,
        stage: int = 1,
        stamper: Stamper | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> None:
        self.notes = notes
        self.developer = developer
        self.docs = docs
        self.policy_version = policy_version
        self.stage = stage
        self.stamper = stamper or Stamper(SOURCE)
        self.on_phase = on_phase
        self.events: list[AnyEvent] = []
        self.run: ChatRun | None = None
        #: the developer stopped the session (Ctrl-C, end of input): resumable
        self.interrupted = False
        self.seed = zlib.crc32(notes.session_id.encode()) % HELD_OUT_SEED_BASE

    @property
    def observation(self) -> Observation | None:
        return None if self.run is None else self.run.observation

    @property
    def episode_id(self) -> str | None:
        return None if self.run is None else self.run.episode_id

    @property
    def action_seed(self) -> int:
        assert self.run is not None
        return self.run.action_seed

    def start(self) -> Observation | None:
        self.notes.attempt += 1
        if self.policy_version not in self.notes.policy_versions:
            self.notes.policy_versions.append(self.policy_version)
        self._open_phase()
        return self.observation

    def apply(self, action: Action, generation_ms: float = 0.0) -> Observation | None:
        """Play the model's move; the developer answers within. The next observation."""
        run = self.run
        if run is None or run.observation is None:
            raise RuntimeError("the session awaits no move")
        events = run.apply(action, generation_ms)
        self.events += events
        for e in events:
            if isinstance(e, DecisionMade):
                self.notes.decisions.append(
                    DecisionRef(
                        number=len(self.notes.decisions) + 1,
                        decision_id=e.decision_id,
                        episode_id=e.episode_id,
                        episode_type=run.spec.episode_type,
                        stage=run.spec.stage,
                        move=format_move(e.move.name, e.move.args, e.move.text)
                        if e.move.valid
                        else f"invalid: {e.move.error}",
                    )
                )
        if run.done:
            self._phase_over(run.phase)
        return self.observation

    def interrupt(self) -> None:
        """Stop between moves (Ctrl-C while the model was choosing): the phase's episode
        ends here; a resumed session continues this phase."""
        self.interrupted = True
        if self.run is not None:
            self.events += self.run.interrupt()
            self.run = None

    # --- phases ---------------------------------------------------------------------------

    def _phase_over(self, phase: ChatPhase) -> None:
        self.run = None
        if phase.ending == "interrupted":
            self.interrupted = True
            return
        self.notes.phase_index += 1
        if phase.ending == "done":
            self.notes.phase_index = len(CHAT_PHASES)
        self._open_phase()

    def _open_phase(self) -> None:
        name = self.notes.phase
        if name is None:
            self.notes.finished = True
            return
        if self.on_phase is not None:
            self.on_phase(name)
        if name == "planning" and not self.notes.components and not self._ask_components():
            return
        cls = PHASE_CLASSES[name]
        spec = EpisodeSpec(episode_type=cls.episode_type, seed=self.seed, stage=self.stage)
        phase = cls(spec, self.notes, self.developer, self.docs)
        episode_id = f"{self.notes.session_id}-{self.notes.attempt}-{name}"
        scenario = f"human session ({SOURCE}): {clean(self.notes.task, 160)}"
        self.run = ChatRun(phase, episode_id, self.policy_version, self.stamper, scenario=scenario)
        self.events += self.run.start()
        if self.run.done:  # no move due: cannot happen with these phases, but be whole
            self._phase_over(phase)

    def _ask_components(self) -> bool:
        """Planning offers the developer's parts of the work as the components to plan
        (Enter: the simulator's usual ones). False: the developer left."""
        view = MoveView(
            number=0,
            phase="planning",
            kind="question",
            title="Parts of the work",
            body="Name the parts of the work the plan is made of, comma-separated "
            f"(e.g. parser, cli_flag, docs). Enter: the usual ones ({', '.join(DEFAULT_COMPONENTS)}).",
            hint="parts, comma-separated",
        )
        try:
            reply = self.developer.respond(view)
        except (KeyboardInterrupt, EOFError):
            self.interrupted = True
            return False
        if reply.strip().lower() in (NEXT, DONE):  # nothing to plan: the session ends
            self.notes.phase_index = len(CHAT_PHASES)
            self.notes.finished = True
            return False
        names = [component_name(p) for p in reply.split(",")]
        self.notes.components = list(dict.fromkeys(n for n in names if n))[:MAX_COMPONENTS]
        return True
