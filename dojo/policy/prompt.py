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
"""

from __future__ import annotations

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

    def render(self, observation: Observation) -> str:
        if self.compact:
            return self._compact(observation)
        return self._render_message(observation.text.strip())

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
            return self._chat(
                [
                    {"role": "system", "content": self.instruction},
                    {"role": "user", "content": message},
                ]
            )
        except TemplateError:
            # some templates refuse a system role: the instruction leads the user turn instead
            return self._chat([{"role": "user", "content": f"{self.instruction}\n\n{message}"}])

    def _chat(self, messages: list[dict[str, str]]) -> str:
        text = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        if not isinstance(text, str):
            raise TypeError(f"chat template rendered {type(text).__name__}, expected str")
        return text


def _first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])
