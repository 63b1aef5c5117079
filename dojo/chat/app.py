"""``dojo chat`` end to end: load the model, walk the session, write the brief, record.

The command (:mod:`dojo.cli`) only turns options into :class:`ChatOptions`.
"""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from dojo.chat.brief import write_brief
from dojo.chat.docs_index import DocsIndex
from dojo.chat.notes import SessionNotes, load_notes, save_notes, state_path
from dojo.chat.record import SOURCE, Delivery, deliver, rating_events
from dojo.chat.render import TerminalDeveloper
from dojo.chat.session import ChatSession
from dojo.config import Settings
from dojo.events import Stamper


class ChatError(RuntimeError):
    """A session that cannot start as asked (a session already there, nothing to resume …)."""


@dataclass(frozen=True)
class ChatOptions:
    brief: Path
    model: str | None = None
    adapter: str = "latest"
    docs: Path | None = None
    resume: bool = False
    store: Path | None = None
    task: str | None = None
    rate: bool = True


@dataclass
class ChatResult:
    notes: SessionNotes
    brief: Path
    state: Path
    interrupted: bool
    delivery: Delivery


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C waits while what there is gets written."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _notes(options: ChatOptions, state: Path, developer: TerminalDeveloper) -> SessionNotes:
    if options.resume:
        return load_notes(state)
    if state.exists():
        raise ChatError(
            f"{options.brief} already has a session ({state}): continue it with --resume, "
            "or name another brief"
        )
    task = " ".join((options.task or "").split())
    while not task:
        task = " ".join(
            developer.ask(
                "What are you working on?",
                "Describe the task in a few sentences, as you would to a colleague.",
            ).split()
        )
    return SessionNotes(session_id=f"human-{uuid.uuid4().hex[:12]}", task=task)


def _rate(notes: SessionNotes, developer: TerminalDeveloper) -> None:
    """The session's rating (1-5) and, optionally, single moves' ('3=5 7=1')."""
    while True:
        reply = developer.ask(
            "Rate this session from 1 (useless) to 5 (excellent).", "Enter skips."
        )
        reply = reply.strip()
        if not reply:
            break
        if reply in {"1", "2", "3", "4", "5"}:
            notes.rating = int(reply)
            break
        developer.info("[red]a number from 1 to 5, please[/]")
    if not notes.decisions:
        return
    numbers = {d.number for d in notes.decisions}
    while True:
        reply = developer.ask(
            "Rate single moves? Their numbers and ratings, e.g. '3=5 7=1'.", "Enter skips."
        )
        ratings: dict[int, int] = {}
        try:
            for part in reply.replace(",", " ").split():
                number, _, value = part.partition("=")
                if int(number) not in numbers or value not in {"1", "2", "3", "4", "5"}:
                    raise ValueError(part)
                ratings[int(number)] = int(value)
        except ValueError as exc:
            developer.info(
                f"[red]not understood: {exc}; use move=rating with moves 1-{max(numbers)}[/]"
            )
            continue
        notes.move_ratings.update(ratings)
        return


def run_chat(settings: Settings, options: ChatOptions, console: Console) -> ChatResult:
    """One session (or the rest of one) with the developer at ``console``."""
    from dojo.eval.harness import subject_for_cli
    from dojo.workers.actors import LMActor
    from dojo.workers.rollout import act_all, end_episode

    developer = TerminalDeveloper(console)
    brief = options.brief
    state = state_path(brief)
    notes = _notes(options, state, developer)
    docs = None
    if options.docs is not None:
        with console.status(f"indexing {options.docs}"):
            docs = DocsIndex.build(options.docs)
        console.print(f"[dim]{len(docs)} passages from {options.docs} indexed (BM25)[/]")
    with console.status("loading the model"):
        # loaded exactly as dojo eval loads a model and adapter, with longer free text
        chat_settings = settings.replace(eval_max_text_tokens=settings.chat.max_text_tokens)
        subject = subject_for_cli(
            options.adapter, chat_settings, options.model, none_yet_is_base=True
        )
    assert subject.lm is not None
    actor = LMActor(subject.lm)
    notes.model = subject.model
    console.print(
        f"[bold]dojo chat[/] with {subject.model} ({actor.version}) on: {notes.task}\n"
        f"[dim]brief: {brief}; session state: {state}[/]"
    )
    session = ChatSession(
        notes,
        developer,
        policy_version=actor.version,
        docs=docs,
        stage=settings.stage,
        stamper=Stamper(SOURCE),
        on_phase=developer.phase,
    )
    save_notes(notes, state)
    episode: str | None = None
    try:
        session.start()
        while (observation := session.observation) is not None:
            if session.episode_id != episode:
                if episode is not None:
                    end_episode(actor, episode)
                episode = session.episode_id
            assert episode is not None
            started = time.perf_counter()
            with console.status("thinking"):
                (action,) = act_all(actor, [observation], [session.action_seed], [episode])
            session.apply(action, (time.perf_counter() - started) * 1000)
            save_notes(notes, state)
    except (KeyboardInterrupt, EOFError):
        session.interrupt()
    finally:
        if episode is not None:
            end_episode(actor, episode)
    with _no_interrupts():
        write_brief(notes, brief)
        save_notes(notes, state)
    console.print(f"[green]brief written to {brief}[/]")
    if options.rate and not session.interrupted:
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            _rate(notes, developer)
    with _no_interrupts():
        events = [*session.events, *rating_events(notes, session.stamper)]
        store = options.store
        if store is None and settings.kafka.bootstrap is None:
            store = settings.store.path
        delivery = deliver(events, settings, store)
        save_notes(notes, state)
    return ChatResult(notes, brief, state, session.interrupted, delivery)
