"""The move grammar as a token-level state machine, for constrained decoding.

A completion is ``name[ key=value]*[ |<free text>]``. Every closed choice (the
move name, each argument value) is a *token trie* over a canonical
tokenisation of its options. An option's text carries what must follow it, up
to the next choice::

    name stage    "ask_question dimension="   (next: a value)
    value stage   "scope |"                   (next: free text)
    value stage   "high" + <eos>              (move complete)

Carrying the follower in the option keeps every trie prefix-free (names such as
``checkpoint`` and ``checkpoint_continue`` no longer end at a shared node), and
a trie node with a single child is simply a forced token. The separator is
forced as ``" |"``: byte-level BPE attaches a space to the word after it, so the
free text naturally starts with its own leading space.

Closed parts are tokenised on their own, so token boundaries between stages
follow the options, not a re-tokenisation of the whole line; nothing is ever
re-tokenised afterwards (the learner scores the stored ids), so this only has
to be consistent, and it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dojo.env.moves import MoveSpec

Encode = Callable[[str], list[int]]
FinishReason = Literal["eos", "newline", "length"]


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    # what comes after an option that ends here: (move index, next stage)
    leaf: tuple[int, int] | None = None
    allowed: list[int] = field(default_factory=list)


def _build_trie(options: Sequence[tuple[list[int], tuple[int, int]]], what: str) -> _Node:
    root = _Node()
    for ids, payload in options:
        if not ids:
            raise ValueError(f"{what}: an option tokenises to nothing")
        node = root
        for token in ids:
            if node.leaf is not None:
                raise ValueError(f"{what}: one option is a token prefix of another")
            node = node.children.setdefault(token, _Node())
        if node.children:
            raise ValueError(f"{what}: one option is a token prefix of another")
        if node.leaf is not None and node.leaf != payload:
            raise ValueError(f"{what}: two options share one spelling")
        node.leaf = payload
    _freeze(root)
    return root


def _freeze(node: _Node) -> None:
    node.allowed = sorted(node.children)
    for child in node.children.values():
        _freeze(child)


class MoveGrammar:
    """The compiled token tries for one set of available moves."""

    def __init__(
        self,
        moves: Sequence[MoveSpec],
        encode: Encode,
        eos_token_id: int,
        completion_prefix: str = "",
    ) -> None:
        if not moves:
            raise ValueError("the observation offers no moves to choose from")
        self.moves = tuple(moves)
        self.eos_token_id = eos_token_id
        names = [
            (self._option(encode, completion_prefix + move.name, i, 0), (i, 0))
            for i, move in enumerate(self.moves)
        ]
        self.name_trie = _build_trie(names, "move names")
        self.value_tries: dict[tuple[int, int], _Node] = {}
        # per move: the most tokens its closed parts (name and values) can take
        self._closed_tokens = [len(ids) for ids, _ in names]
        for i, move in enumerate(self.moves):
            for j, arg in enumerate(move.args):
                options = [
                    (self._option(encode, value, i, j + 1), (i, j + 1)) for value in arg.values
                ]
                self.value_tries[(i, j)] = _build_trie(options, f"values of {move.name}.{arg.name}")
                self._closed_tokens[i] += max(len(ids) for ids, _ in options)

    def max_tokens(self, max_text_tokens: int) -> int:
        """The most tokens a completion can take: its longest closed parts plus, for a
        move that takes text, the cap on free text (a completion never exceeds it)."""
        return max(
            closed + (max_text_tokens if move.takes_text else 0)
            for closed, move in zip(self._closed_tokens, self.moves, strict=True)
        )

    def _option(self, encode: Encode, text: str, move_index: int, next_arg: int) -> list[int]:
        """Token ids of ``text`` followed by what the grammar forces after it."""
        move = self.moves[move_index]
        if next_arg < len(move.args):
            return encode(f"{text} {move.args[next_arg].name}=")
        if move.takes_text:
            return encode(f"{text} |")
        return [*encode(text), self.eos_token_id]

    def cursor(
        self,
        max_text_tokens: int,
        stop_token_ids: frozenset[int],
        newline_token_ids: frozenset[int],
    ) -> Cursor:
        return Cursor(self, max_text_tokens, stop_token_ids, newline_token_ids)


class Cursor:
    """Where one completion stands in the grammar; advanced one token at a time."""

    def __init__(
        self,
        grammar: MoveGrammar,
        max_text_tokens: int,
        stop_token_ids: frozenset[int],
        newline_token_ids: frozenset[int],
    ) -> None:
        self._grammar = grammar
        self._node: _Node | None = grammar.name_trie
        self._max_text_tokens = max_text_tokens
        self._stop = stop_token_ids
        self._newline = newline_token_ids
        self._text_tokens = 0
        self.finish_reason: FinishReason | None = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def allowed(self) -> list[int] | None:
        """Token ids the next position may take; None while sampling free text."""
        if self.done:
            raise RuntimeError("the completion is already finished")
        return self._node.allowed if self._node is not None else None

    def advance(self, token: int) -> None:
        if self._node is None:
            self._advance_text(token)
            return
        node = self._node.children.get(token)
        if node is None:
            raise ValueError(f"token {token} is not allowed here (allowed: {self._node.allowed})")
        if node.leaf is None:
            self._node = node
            return
        move_index, next_arg = node.leaf
        move = self._grammar.moves[move_index]
        if next_arg < len(move.args):
            self._node = self._grammar.value_tries[(move_index, next_arg)]
        elif move.takes_text:
            self._node = None
            if self._max_text_tokens == 0:
                self.finish_reason = "length"
        else:
            self.finish_reason = "eos"  # the option ended with the forced EOS

    def _advance_text(self, token: int) -> None:
        self._text_tokens += 1
        if token in self._stop:
            self.finish_reason = "eos"
        elif token in self._newline:
            self.finish_reason = "newline"
        elif self._text_tokens >= self._max_text_tokens:
            self.finish_reason = "length"
