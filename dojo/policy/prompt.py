"""How an observation becomes the prompt text the model reads.

The observation's text is the whole situation, moves listed included (see
:class:`dojo.env.protocol.Observation`). Models with a chat template get it as
the user message after a system message (the grammar in one paragraph); a base
model without one gets a plain template. Completions follow the prompt directly.

The *compact* form (the tiny preset's) is a state summary instead of the
whole text: the newest known facts and every new message, each cut to its first
few words, then the episode type, phase and decision number, which end the
prompt. The tiny model reads nothing of the instruction, the situation's
prose or the listing of moves (constrained decoding already confines it to the
offered moves); what it can learn from in minutes is which moves pay off at
which point of which episode, given what it just learned. The long form costs 300-1,100
tokens a decision, the compact one 8-60, and every one of them is processed at
every decision by the environment workers and again by the learner, on CPU
(keeping only the newest four facts learned as well per episode as keeping all,
and a third more episodes per minute).
The decision number comes last so that it is the token the next-move choice
sits on: a model whose attention is still untrained sees it without looking.

**Conversations (chat prompts).** A chat model plays an episode as one
conversation (:mod:`dojo.policy.conversation`): the first decision reads the
system instruction and the whole first observation (:meth:`PromptFormat.render`);
each later decision appends, after the model's own move, only what is new
(:meth:`PromptFormat.continuation` of :meth:`PromptFormat.render_delta`). The
*observation delta* is a user turn of these lines, in this order:

* the status line of the observation, verbatim (``Phase: …. Decision n of at most
  N. Time used: x h.``), and the first line too when it changed (role, episode);
* ``Situation: …`` only when it changed;
* ``Newly known:`` and the facts learned since the previous observation (none: the
  block is left out); should an earlier fact have changed or gone, the whole
  ``Known so far:`` list instead;
* ``Messages:`` and every message (they are new at every decision), ``- none`` if none;
* the ``Moves (…):`` block, verbatim, only when the offered moves changed.

An observation whose text lacks that structure (a status line, the ``Known so
far:``, ``Messages:`` and ``Moves (`` headers) is sent whole as the user turn.

The pieces of a turn come from the tokenizer's chat template, rendered with
placeholders once (:class:`TurnTemplate`): what closes an assistant turn, what
opens and closes a user turn, the generation prompt. Token ids are built turn
by turn, and those ids are the truth the learner scores: the first prompt's ids,
then each completion's sampled ids, then each continuation's ids. Where a
template marks turns with special tokens (ChatML) they equal the ids of the whole
conversation rendered at once with the moves' texts as assistant turns: checked
in tests/policy/test_conversation.py, and with SmolLM2-135M-Instruct's tokenizer
on real moves. A tokenizer may still join a piece's first token to what precedes
it when tokenising a whole text (the tiny tokenizer's grammar words take the
whitespace before them); nothing is ever re-tokenised, so the ids built turn by
turn stay the truth. A template whose rendering of a longer conversation does not
extend the shorter one's has no turn pieces: such a model is prompted afresh at
every decision, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import TemplateError

from dojo.env.moves import TEXT_SEPARATOR
from dojo.env.protocol import Observation

SYSTEM_INSTRUCTION = (
    "You are a senior software engineer working in an agile team. Before and around writing "
    "code you ask, research, plan, check your progress and adapt. Reply with exactly one move "
    "on one line: the move name, then each of its arguments as key=value, then, only for moves "
    f"that take text, '{TEXT_SEPARATOR.strip()}' and your text. Use only the moves, arguments "
    "and values listed."
)
PLAIN_ANSWER_CUE = "Move:"
COMPACT_FACT_WORDS = 4  # a known fact's label and the start of its value: "task 1: data_model"
COMPACT_FACTS = 4  # the newest known facts; older ones cost tokens the tiny model cannot use yet
COMPACT_MESSAGE_WORDS = 8
# placeholders for a turn's content while the chat template's turn pieces are derived
_ASSISTANT_PLACEHOLDER = "\u2063assistant-content\u2063"
_USER_PLACEHOLDER = "\u2063user-content\u2063"
_STATUS_PREFIX = "Phase:"
_SITUATION_PREFIX = "Situation:"
_KNOWN_HEADER = "Known so far:"
_MESSAGES_HEADER = "Messages:"
_MOVES_PREFIX = "Moves ("


@dataclass(frozen=True)
class TurnTemplate:
    """The text a chat template puts around the turns of a conversation after the first.

    ``close_assistant`` follows the assistant's content (ChatML: ``<|im_end|>\\n``);
    ``open_user`` and ``close_user`` surround a user turn's content, ``close_user``
    ending with the generation prompt (ChatML: ``<|im_start|>user\\n`` and
    ``<|im_end|>\\n<|im_start|>assistant\\n``).
    """

    close_assistant: str
    open_user: str
    close_user: str


class PromptFormat:
    """Renders observations for one tokenizer, plain or through its chat template."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        chat: bool,
        instruction: str = SYSTEM_INSTRUCTION,
        compact: bool = False,
    ) -> None:
        if chat and not getattr(tokenizer, "chat_template", None):
            raise ValueError("chat prompts need a tokenizer with a chat template")
        if chat and compact:
            raise ValueError("the compact form is for plain (non-chat) prompts")
        self._tokenizer = tokenizer
        self.chat = chat
        self.compact = compact
        # another system instruction, e.g. the evaluation's prompt-only baseline
        self.instruction = instruction
        probe = self._render_message("probe")
        # The move name follows the prompt directly; after a cue like "Assistant:" a
        # BPE model expects the next word to carry its leading space.
        self.completion_prefix = "" if probe[-1:].isspace() else " "
        # The chat template's turn pieces; None: no conversations (plain prompts, or a
        # template whose longer conversations do not extend its shorter ones).
        self.turns: TurnTemplate | None = self._derive_turns() if chat else None

    def render(self, observation: Observation) -> str:
        if self.compact:
            return self._compact(observation)
        return self._render_message(observation.text.strip())

    def render_delta(self, previous: Observation, current: Observation) -> str:
        """The user turn of ``current`` after ``previous``: only what is new (module docstring)."""
        before, now = _sections(previous.text), _sections(current.text)
        if before is None or now is None:
            return current.text.strip()
        lines = []
        if now.first not in (before.first, now.status):
            lines.append(now.first)
        lines.append(now.status)
        if now.situation != before.situation:
            lines.append(now.situation)
        known_before = len(previous.known)
        if current.known[:known_before] == previous.known:
            if learned := current.known[known_before:]:
                lines += ["Newly known:", *(f"- {fact}" for fact in learned)]
        else:
            lines += [_KNOWN_HEADER, *(f"- {fact}" for fact in current.known or ("nothing yet",))]
        lines += [_MESSAGES_HEADER, *(f"- {m}" for m in current.messages or ("none",))]
        if current.moves != previous.moves:
            lines.append(now.moves)
        return "\n".join(lines)

    def continuation(self, message: str, *, closed: bool) -> str:
        """What a conversation appends after a completion: the rest of the assistant's
        turn, then ``message`` as the next user turn, then the generation prompt.

        ``closed``: the completion ended with the EOS token; when the template's
        end-of-turn starts with it, only the rest of the end-of-turn follows.
        """
        turns = self.turns
        if turns is None:
            raise ValueError("this prompt format keeps no conversations")
        close = turns.close_assistant
        eos = self._tokenizer.eos_token or ""
        if closed and eos and close.startswith(eos):
            close = close[len(eos) :]
        return f"{close}{turns.open_user}{message.strip()}{turns.close_user}"

    def encode(self, text: str) -> list[int]:
        """Token ids of prompt text; special tokens are already spelled out in it."""
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def _compact(self, observation: Observation) -> str:
        bos = self._tokenizer.bos_token or ""
        lines = [
            f"- {_first_words(fact, COMPACT_FACT_WORDS)}"
            for fact in observation.known[-COMPACT_FACTS:]
        ]
        lines += [f"> {_first_words(m, COMPACT_MESSAGE_WORDS)}" for m in observation.messages]
        where = f"{observation.episode_type} {observation.phase} {observation.step + 1}"
        return bos + "\n".join([*lines, where])

    def _render_message(self, message: str) -> str:
        if not self.chat:
            bos = self._tokenizer.bos_token or ""
            if self.compact:  # the probe only: compact prompts end like _compact's
                return f"{bos}{message} 1"
            return f"{bos}{self.instruction}\n\n{message}\n\n{PLAIN_ANSWER_CUE}\n"
        try:
            return self._chat(self._opening(message, system=True))
        except TemplateError:
            # some templates refuse a system role: the instruction leads the user turn instead
            return self._chat(self._opening(message, system=False))

    def _opening(self, message: str, *, system: bool) -> list[dict[str, str]]:
        if system:
            return [
                {"role": "system", "content": self.instruction},
                {"role": "user", "content": message},
            ]
        return [{"role": "user", "content": f"{self.instruction}\n\n{message}"}]

    def _derive_turns(self) -> TurnTemplate | None:
        """Render a conversation with placeholders, once with and once without its
        last user turn; the difference is the pieces a later turn is built from."""
        assistant = {"role": "assistant", "content": _ASSISTANT_PLACEHOLDER}
        user = {"role": "user", "content": _USER_PLACEHOLDER}
        for system in (True, False):
            try:
                head = self._opening("probe", system=system)
                answered = self._chat([*head, assistant], generation_prompt=False)
                asked = self._chat([*head, assistant, user])
            except TemplateError:
                continue
            tail = asked[len(answered) :]
            if (
                not asked.startswith(answered)
                or answered.count(_ASSISTANT_PLACEHOLDER) != 1
                or tail.count(_USER_PLACEHOLDER) != 1
            ):
                return None
            open_user, close_user = tail.split(_USER_PLACEHOLDER)
            close_assistant = answered[
                answered.index(_ASSISTANT_PLACEHOLDER) + len(_ASSISTANT_PLACEHOLDER) :
            ]
            return TurnTemplate(close_assistant, open_user, close_user)
        return None

    def _chat(self, messages: list[dict[str, str]], *, generation_prompt: bool = True) -> str:
        text = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=False
        )
        if not isinstance(text, str):
            raise TypeError(f"chat template rendered {type(text).__name__}, expected str")
        return text


def _first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


@dataclass(frozen=True)
class _Sections:
    """The parts of an observation's text the delta compares (see ``observe`` in
    :mod:`dojo.env.episodes.base`)."""

    first: str
    status: str
    situation: str
    moves: str


def _sections(text: str) -> _Sections | None:
    lines = text.strip().split("\n")
    try:
        known = lines.index(_KNOWN_HEADER)
        messages = lines.index(_MESSAGES_HEADER, known)
    except ValueError:
        return None
    moves = next(
        (i for i in range(messages, len(lines)) if lines[i].startswith(_MOVES_PREFIX)), None
    )
    status = next((line for line in lines[:known] if line.startswith(_STATUS_PREFIX)), None)
    if moves is None or status is None:
        return None
    situation = next((i for i in range(known) if lines[i].startswith(_SITUATION_PREFIX)), known)
    return _Sections(
        first=lines[0],
        status=status,
        situation="\n".join(lines[situation:known]),
        moves="\n".join(lines[moves:]),
    )
