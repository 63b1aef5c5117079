"""The tiny preset's base model: built locally once, then always loaded from disk.

A random-init model can only be reloaded if it was saved, so the first process
that needs it trains the tokenizer, initialises the weights from a fixed seed
and saves both under ``<data_dir>/models/tiny-<digest>``. The digest covers the
recipe and the corpus, so a changed recipe builds a new folder instead of
silently reusing an old one. Several processes may race at start-up: each
builds into its own temporary folder beside the target and renames it into
place; a rename onto a complete folder fails, and the loser discards its copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from dojo.policy.progress import progress_bars_off
from dojo.policy.tiny_corpus import build_corpus

MARKER = "dojo_preset.json"
PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
TINY_RECIPE: dict[str, Any] = {
    "format": 1,
    "seed": 1234,
    "vocab_size": 2048,
    "special_tokens": [PAD, BOS, EOS],
    "model": {
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 8192,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    },
}


def tiny_digest(corpus: list[str] | None = None) -> str:
    """Twelve hex digits naming this exact recipe and corpus."""
    lines = build_corpus() if corpus is None else corpus
    payload = json.dumps({"recipe": TINY_RECIPE, "corpus": lines}, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


def ensure_tiny_base(data_dir: Path) -> Path:
    """The folder of the tiny base (model + tokenizer), building it on first use."""
    corpus = build_corpus()
    final = Path(data_dir) / "models" / f"tiny-{tiny_digest(corpus)}"
    if (final / MARKER).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        _build(corpus, scratch, final.name)
        try:
            os.rename(scratch, final)
        except OSError:
            if not (final / MARKER).is_file():
                raise  # not a lost race: something else is in the way
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # still there only if we lost the race
    return final


def _build(corpus: list[str], folder: Path, name: str) -> None:
    tokenizer = _train_tokenizer(corpus)
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **TINY_RECIPE["model"],
    )
    model = LlamaForCausalLM(config)
    # Draw every matrix from a private generator: the global RNG may be shared with
    # other threads, and the weights must not depend on who else draws from it.
    generator = torch.Generator().manual_seed(TINY_RECIPE["seed"])
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters()):
            if parameter.ndim >= 2:
                parameter.copy_(
                    torch.randn(parameter.shape, generator=generator) * config.initializer_range
                )
    with progress_bars_off():
        model.save_pretrained(folder)
    # written last: its presence marks a complete folder
    (folder / MARKER).write_text(
        json.dumps({"preset": "tiny", "name": name, "recipe": TINY_RECIPE}, indent=2)
    )


def _train_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_RECIPE["vocab_size"],
        special_tokens=TINY_RECIPE["special_tokens"],
        # every byte is in the alphabet, so any text stays encodable
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )
