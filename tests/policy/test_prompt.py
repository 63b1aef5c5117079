"""Prompt rendering: the plain template, chat templates, templates that refuse a system role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from dojo.policy.prompt import PLAIN_ANSWER_CUE, SYSTEM_INSTRUCTION, PromptFormat

from .observations import observation
from .test_presets import DEEPSEEK_STYLE_TEMPLATE

NO_SYSTEM_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    "<|user|>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture
def tokenizer(tiny_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_dir)


def test_plain_prompt_for_a_base_model(tokenizer: Any) -> None:
    fmt = PromptFormat(tokenizer, chat=False)
    obs = observation(
        "Line one.\nMoves (answer with exactly one line: name arg=value | text):\n- signal_ready"
    )
    text = fmt.render(obs)
    assert (
        text == f"{tokenizer.bos_token}{SYSTEM_INSTRUCTION}\n\n{obs.text}\n\n{PLAIN_ANSWER_CUE}\n"
    )
    assert fmt.completion_prefix == ""
    assert fmt.encode(text)[0] == tokenizer.bos_token_id


def test_chat_prompt_with_a_system_message(tokenizer: Any) -> None:
    tokenizer.chat_template = DEEPSEEK_STYLE_TEMPLATE
    fmt = PromptFormat(tokenizer, chat=True)
    text = fmt.render(observation("Where do we start?"))
    assert (
        text
        == f"{tokenizer.bos_token}{SYSTEM_INSTRUCTION}\n\nUser: Where do we start?\n\nAssistant:"
    )
    assert fmt.completion_prefix == " "  # the move name carries the space after "Assistant:"


def test_chat_template_refusing_a_system_role_gets_the_instruction_in_the_user_turn(
    tokenizer: Any,
) -> None:
    tokenizer.chat_template = NO_SYSTEM_TEMPLATE
    fmt = PromptFormat(tokenizer, chat=True)
    assert fmt.render(observation("Go.")) == f"<|user|>{SYSTEM_INSTRUCTION}\n\nGo.\n<|assistant|>\n"
    assert fmt.completion_prefix == ""


def test_chat_prompts_need_a_template(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="chat template"):
        PromptFormat(tokenizer, chat=True)


def test_compact_prompt_is_a_state_summary_ending_with_where_the_decision_is(
    tokenizer: Any,
) -> None:
    from dojo.env.protocol import Observation

    fmt = PromptFormat(tokenizer, chat=False, compact=True)
    obs = Observation(
        text="Situation: a long story nobody needs.\nMoves (answer ...):\n- signal_ready",
        phase="elicitation",
        step=2,
        moves=observation().moves,
        episode_type="E-1.1",
        known=("clarified (scope): v1 covers orders from the last 12 months only",),
        messages=("pia (product owner): Not in v1: scheduled delivery and analytics.",),
    )
    text = fmt.render(obs)
    assert text == (
        f"{tokenizer.bos_token}- clarified (scope): v1 covers\n"
        "> pia (product owner): Not in v1: scheduled delivery\n"
        "E-1.1 elicitation 3"
    )
    assert fmt.completion_prefix == " "  # the move name follows the decision number
    tokenizer.chat_template = DEEPSEEK_STYLE_TEMPLATE
    with pytest.raises(ValueError, match="plain"):
        PromptFormat(tokenizer, chat=True, compact=True)
