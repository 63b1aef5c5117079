"""The tiny preset's base model: built once per machine, then always loaded from disk.

Built from a fixed recipe: a byte-level BPE tokenizer trained on a local corpus, with
one whole token per grammar word of the simulator (every move name and closed
argument value, :func:`~dojo.policy.tiny_corpus.grammar_words`), a 2-layer Llama
drawn from a fixed seed, then *pretrained* as a language model on the
simulator's own text — the compact prompts (:mod:`dojo.policy.prompt`) of episodes
of every type played by the scripted ``random`` policy. That reading is what a real
base model brings to reinforcement learning and a random one lacks: attention that
carries the facts of the situation (``done: ac3``, ``spike (api_endpoint): high
risk``) to the tokens where a move is chosen. Only observations are read, never a
move, so the base learns the language, not the task; and the output head is drawn
afresh after pretraining, so the untrained policy chooses among the offered moves
about as the random policy does.

Pretraining costs about a minute of CPU, so a build is kept in a machine-wide cache
(``$XDG_CACHE_HOME/dojo/models``, else ``~/.cache/dojo/models``) under a file lock —
one process builds, the others wait — and copied into ``<data_dir>/models/tiny-<digest>``
(both steps: :mod:`dojo.policy.model_cache`). The digest covers the recipe, the corpus,
the grammar words and the first pretraining documents (so the compact prompt form too),
so a changed recipe or prompt builds a new folder instead of silently reusing an old one.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from dojo.env.protocol import EPISODE_TYPES
from dojo.policy.model_cache import MARKER as MARKER  # re-exported: where it was defined first
from dojo.policy.model_cache import build_once, install, is_built
from dojo.policy.model_cache import default_model_cache as default_model_cache
from dojo.policy.progress import progress_bars_off
from dojo.policy.prompt import PromptFormat
from dojo.policy.tiny_corpus import build_corpus, grammar_words, random_play, random_spec

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
TINY_RECIPE: dict[str, Any] = {
    "format": 3,  # 3: the simulator's grammar words are whole tokens
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
        # untied: the head is drawn afresh after pretraining, the embeddings are kept
        "tie_word_embeddings": False,
    },
    # language-model pretraining on compact prompts of random-policy episodes
    "pretraining": {"steps": 1000, "batch": 16, "lr": 2e-3, "seed": 4321},
}


#: pretraining documents the digest covers: a change of the compact prompt form or of
#: the simulator's text shows in the first ones
DIGESTED_DOCUMENTS = 50


def tiny_digest(corpus: list[str] | None = None) -> str:
    """Twelve hex digits naming this exact recipe, corpus, grammar and prompt form."""
    lines = build_corpus() if corpus is None else corpus
    prompts = PromptFormat(_BosOnly(), chat=False, compact=True)
    texts = _random_play_texts(prompts, TINY_RECIPE["pretraining"]["seed"])
    documents = [next(texts) for _ in range(DIGESTED_DOCUMENTS)]
    payload = json.dumps(
        {
            "recipe": TINY_RECIPE,
            "corpus": lines,
            "grammar": grammar_words(),
            "documents": documents,
        },
        sort_keys=True,
    ).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


class _BosOnly:
    """What rendering a compact prompt needs of a tokenizer, before the tokenizer exists."""

    bos_token = BOS


def ensure_tiny_base(data_dir: Path, cache: Path | None = None) -> Path:
    """The folder of the tiny base (model + tokenizer) in ``data_dir``, built on first use.

    ``cache``: where this machine keeps built bases (default :func:`default_model_cache`).
    """
    corpus = build_corpus()
    name = f"tiny-{tiny_digest(corpus)}"
    final = Path(data_dir) / "models" / name
    if is_built(final):
        return final
    cache = cache or default_model_cache()
    built = build_once(
        cache,
        name,
        lambda scratch: _build(corpus, scratch, name),
        marker={"preset": "tiny", "name": name, "recipe": TINY_RECIPE},
        announce=f"building the tiny base {name} into {cache} (once per machine, about a minute)",
    )
    return install(built, final)  # a plain copy: a few megabytes


def _build(corpus: list[str], folder: Path, name: str) -> None:
    """The tiny base ``name`` (model and tokenizer) written into ``folder``."""
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
    _draw(model, generator, config.initializer_range)
    _pretrain(model, tokenizer)
    # a fresh head: the pretrained one predicts prompt text, and would make the
    # untrained policy's move choices follow that text's statistics
    with torch.no_grad():
        head = model.get_output_embeddings()
        head.weight.copy_(
            torch.randn(head.weight.shape, generator=generator) * config.initializer_range
        )
    with progress_bars_off():
        model.save_pretrained(folder)
    # the marker is written after this by build_once


def _draw(model: LlamaForCausalLM, generator: torch.Generator, scale: float) -> None:
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters()):
            if parameter.ndim >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)


def _pretrain(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast) -> None:
    """Next-token prediction on compact prompts of random-policy episodes of every type."""
    recipe = TINY_RECIPE["pretraining"]
    # deterministic without a seed of its own: no dropout, and the documents come from
    # a seeded random policy; the process's global RNG is left alone
    documents = _random_play_prompts(
        PromptFormat(tokenizer, chat=False, compact=True), recipe["seed"]
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=0.0)
    pad = tokenizer.pad_token_id
    model.train()
    for _ in range(recipe["steps"]):
        batch = [next(documents) for _ in range(recipe["batch"])]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, ids in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
        labels = input_ids.masked_fill(attention == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


def _random_play_prompts(prompts: PromptFormat, seed: int) -> Iterator[list[int]]:
    """Token ids of every observation's compact prompt, episode after episode of every
    type, played by the scripted random policy on training seeds."""
    for text in _random_play_texts(prompts, seed):
        yield prompts.encode(text)


def _random_play_texts(prompts: PromptFormat, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        for observation in random_play(random_spec(rng, rng.choice(EPISODE_TYPES))):
            yield prompts.render(observation)


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
    # single_word: "data" stays inside "database"; lstrip: the space before a word is
    # part of its token, so " ac2" in a prompt and the option "ac2" are one token
    tokenizer.add_tokens(
        [
            AddedToken(word, single_word=True, lstrip=True, normalized=False)
            for word in grammar_words()
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )
