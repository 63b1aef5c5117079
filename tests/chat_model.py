"""A small chat model for tests: the tiny base with a ChatML-style chat template.

The tiny tokenizer's ``<|bos|>`` opens a turn and its ``<|eos|>`` ends one, as
SmolLM2's ``<|im_start|>`` and ``<|im_end|>`` do; the weights are the tiny base's.
Loaded from the folder, it is a generic model whose tokenizer has a chat template:
a chat model (:mod:`dojo.policy.conversation`).
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

CHATML = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}\n{{ m['content'] }}<|eos|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant\n{% endif %}"
)


def make_chat_folder(tiny_dir: Path, folder: Path, max_positions: int | None = None) -> Path:
    """The tiny base as a chat model in ``folder``; ``max_positions`` shortens its context."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.chat_template = CHATML
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    if max_positions is not None:
        model.config.max_position_embeddings = max_positions
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
