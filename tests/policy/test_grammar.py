"""The compiled move grammar: every path through it is a valid, distinct move."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from dojo.env.moves import ArgSpec, MoveSpec, parse_move
from dojo.policy.grammar import MoveGrammar

from .observations import MOVES

NO_STOPS: frozenset[int] = frozenset()


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_dir)


def compile_grammar(tokenizer: Any, moves: tuple[MoveSpec, ...], prefix: str = "") -> MoveGrammar:
    return MoveGrammar(
        moves,
        lambda text: tokenizer.encode(text, add_special_tokens=False),
        tokenizer.eos_token_id,
        prefix,
    )


def closed_paths(grammar: MoveGrammar, path: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Every token sequence through the closed part (up to free text or the end)."""
    cursor = grammar.cursor(8, NO_STOPS, NO_STOPS)
    for token in path:
        cursor.advance(token)
    allowed = None if cursor.done else cursor.allowed()
    if allowed is None:
        yield path
        return
    for token in allowed:
        yield from closed_paths(grammar, (*path, token))


def all_moves(moves: tuple[MoveSpec, ...]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    combos = set()
    for move in moves:
        for values in itertools.product(*(a.values for a in move.args)):
            combos.add((move.name, tuple(zip((a.name for a in move.args), values, strict=True))))
    return combos


def parsed_paths(
    tokenizer, grammar: MoveGrammar, moves: tuple[MoveSpec, ...]
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    found = []
    for path in closed_paths(grammar):
        text = tokenizer.decode(list(path), skip_special_tokens=True)
        move = parse_move(text, moves)
        assert move.valid, (text, move.error)
        found.append((move.name, tuple(move.args.items())))
    return found


@pytest.mark.parametrize("prefix", ["", " "])
def test_every_path_is_a_distinct_valid_move_and_every_move_has_a_path(
    tokenizer: Any, prefix: str
) -> None:
    grammar = compile_grammar(tokenizer, MOVES, prefix)
    found = parsed_paths(tokenizer, grammar, MOVES)
    assert len(found) == len(set(found))
    assert set(found) == all_moves(MOVES)


def test_shared_prefix_names_branch_at_a_real_choice(tokenizer: Any) -> None:
    # names outside the simulator's grammar words, so the tokenizer spells both in
    # several tokens and the longer one's tokens begin with the shorter one's
    moves = (MoveSpec(name="zzq"), MoveSpec(name="zzq_more"))
    grammar = compile_grammar(tokenizer, moves)
    paths = {tokenizer.decode(list(p), skip_special_tokens=True): p for p in closed_paths(grammar)}
    short, long = paths["zzq"], paths["zzq_more"]
    shared = next(i for i, (a, b) in enumerate(zip(short, long, strict=False)) if a != b)
    assert shared > 0  # the tokenisations do share a prefix
    assert short[shared] == tokenizer.eos_token_id  # "zzq" ends where the other goes on


def test_closed_moves_end_with_eos_and_text_moves_with_the_separator(tokenizer: Any) -> None:
    grammar = compile_grammar(tokenizer, MOVES)
    for path in closed_paths(grammar):
        text = tokenizer.decode(list(path))
        if text.startswith(("ask_question", "state_assumption")):
            assert text.endswith(" |")
        else:
            assert path[-1] == tokenizer.eos_token_id


def test_free_text_stops_at_newline_stop_token_or_length(tokenizer: Any) -> None:
    grammar = compile_grammar(tokenizer, MOVES)
    head = next(
        p for p in closed_paths(grammar) if tokenizer.decode(list(p)).startswith("state_assumption")
    )
    word = tokenizer.encode(" fine", add_special_tokens=False)[0]
    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    eos = tokenizer.eos_token_id
    for tail, reason in [
        ((word, newline), "newline"),
        ((word, eos), "eos"),
        ((word, word, word), "length"),
    ]:
        cursor = grammar.cursor(3, frozenset({eos}), frozenset({newline}))
        for token in head:
            cursor.advance(token)
        assert cursor.allowed() is None
        for token in tail:
            assert not cursor.done
            cursor.advance(token)
        assert cursor.finish_reason == reason


def test_disallowed_token_is_rejected(tokenizer: Any) -> None:
    cursor = compile_grammar(tokenizer, MOVES).cursor(8, NO_STOPS, NO_STOPS)
    allowed = cursor.allowed() or []
    outside = next(t for t in range(len(tokenizer)) if t not in allowed)
    with pytest.raises(ValueError, match="not allowed"):
        cursor.advance(outside)


def test_bad_move_sets_are_refused(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="no moves"):
        compile_grammar(tokenizer, ())
    with pytest.raises(ValueError, match="share one spelling"):
        compile_grammar(tokenizer, (MoveSpec(name="commit"), MoveSpec(name="commit")))


_word = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_moves = st.lists(
    st.builds(
        lambda name, args, text: MoveSpec(
            name=name,
            args=tuple(ArgSpec(name=f"{a}_{i}", values=tuple(v)) for i, (a, v) in enumerate(args)),
            takes_text=text,
        ),
        _word,
        st.lists(
            st.tuples(_word, st.lists(_word, min_size=1, max_size=3, unique=True)), max_size=2
        ),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda m: m.name,
).map(tuple)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=_moves)
def test_any_move_set_compiles_to_exactly_its_moves(
    tokenizer: Any, moves: tuple[MoveSpec, ...]
) -> None:
    grammar = compile_grammar(tokenizer, moves)
    found = parsed_paths(tokenizer, grammar, moves)
    assert len(found) == len(set(found))
    assert set(found) == all_moves(moves)
