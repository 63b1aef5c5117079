"""The tiny base: built once per machine from a fixed recipe, pretrained on the simulator's
text, copied atomically into each data dir, reloaded from disk."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from dojo.env.protocol import EPISODE_TYPES, EpisodeSpec
from dojo.policy import tiny_base
from dojo.policy.prompt import PromptFormat
from dojo.policy.tiny_base import MARKER, ensure_tiny_base, tiny_digest
from dojo.policy.tiny_corpus import build_corpus, grammar_words, random_play


def test_built_once_then_reused(tmp_path: Path) -> None:
    folder = ensure_tiny_base(tmp_path)
    assert folder.name == f"tiny-{tiny_digest()}"
    assert (folder / MARKER).is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_base(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]


def test_the_digest_follows_the_prompt_form_it_pretrains_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a base pretrained on another form of the prompts is another base, not a cache hit
    from dojo.policy import prompt

    before = tiny_digest()
    monkeypatch.setattr(prompt, "COMPACT_FACTS", prompt.COMPACT_FACTS + 1)
    assert tiny_digest() != before


@pytest.fixture
def quick_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe with a few pretraining steps: a build in seconds (its own digest)."""
    recipe = copy.deepcopy(tiny_base.TINY_RECIPE)
    recipe["pretraining"]["steps"] = 3
    monkeypatch.setattr(tiny_base, "TINY_RECIPE", recipe)


def test_a_build_is_reproducible(tmp_path: Path, quick_recipe: None) -> None:
    # two caches: two real builds, not one build copied twice
    one = ensure_tiny_base(tmp_path / "a", cache=tmp_path / "cache-a")
    two = ensure_tiny_base(tmp_path / "b", cache=tmp_path / "cache-b")
    assert (one / "tokenizer.json").read_bytes() == (two / "tokenizer.json").read_bytes()
    mine, theirs = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # weights are real draws, not zeros or a constant
    assert float(mine["model.layers.0.self_attn.q_proj.weight"].std()) > 0.01


def test_data_dirs_share_the_machines_build(tmp_path: Path, tiny_dir: Path) -> None:
    other = ensure_tiny_base(tmp_path)  # the default cache: built once by tiny_dir's fixture
    assert (other / "model.safetensors").read_bytes() == (
        tiny_dir / "model.safetensors"
    ).read_bytes()


def test_pretraining_teaches_the_simulators_language(quick_recipe: None) -> None:
    tokenizer = tiny_base._train_tokenizer(build_corpus())
    config = LlamaConfig(vocab_size=len(tokenizer), **tiny_base.TINY_RECIPE["model"])
    model = LlamaForCausalLM(config)
    tiny_base._draw(model, torch.Generator().manual_seed(0), config.initializer_range)
    prompts = PromptFormat(tokenizer, chat=False, compact=True)
    # an observation from episodes it does not train on (another seed)
    sample = torch.tensor([next(tiny_base._random_play_prompts(prompts, seed=99))])

    def loss() -> float:
        with torch.no_grad():
            return float(model(input_ids=sample, labels=sample).loss)

    before = loss()
    tiny_base.TINY_RECIPE["pretraining"]["steps"] = 40
    tiny_base._pretrain(model, tokenizer)
    assert loss() < 0.6 * before


def test_the_untrained_head_is_drawn_after_pretraining(tiny_dir: Path) -> None:
    weights = load_file(tiny_dir / "model.safetensors")
    head, embeddings = weights["lm_head.weight"], weights["model.embed_tokens.weight"]
    assert not torch.equal(head, embeddings)  # untied
    # a fresh draw at the init scale; the pretrained embeddings have moved off it
    assert abs(float(head.std()) - tiny_base.TINY_RECIPE["model"]["initializer_range"]) < 0.002
    assert float(embeddings.std()) > 1.5 * float(head.std())


def test_racing_builders_build_once_and_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_recipe: None
) -> None:
    builds: list[str] = []
    real_build = tiny_base._build

    def counted_build(corpus: list[str], folder: Path, name: str) -> None:
        builds.append(folder.name)
        real_build(corpus, folder, name)

    monkeypatch.setattr(tiny_base, "_build", counted_build)
    barrier = threading.Barrier(4)
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        barrier.wait()
        try:
            results.append(ensure_tiny_base(tmp_path / "data", cache=tmp_path / "cache"))
        except BaseException as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(builds) == 1  # the others waited for the lock, then found it built
    assert len(set(results)) == 1
    assert sorted(p.name for p in (tmp_path / "data" / "models").iterdir()) == [results[0].name]
    cached = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]
    assert cached == [results[0].name]  # no scratch left behind


def test_any_text_stays_encodable(tiny_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    # the trained BPE (at most vocab_size) plus one token per grammar word
    assert 1000 + len(grammar_words()) <= len(tokenizer) <= 2048 + len(grammar_words())
    for text in [
        "ask_question dimension=scope | Why?",
        "Ünïcödé ✓ 😀 日本語",
        "tab\there\r\nnull\x00byte",
        "",
    ]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text


def test_grammar_words_are_whole_tokens(tiny_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    prompts = PromptFormat(tokenizer, chat=False, compact=True)

    def tokens(text: str) -> list[str]:
        return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))

    # a move is chosen with the token the facts name its value by
    assert tokens("ac2") == ["ac2"]
    assert "ac2" in tokens("- done: ac2\n> ac2: 1/2 done.")
    assert tokens("extend_module") == ["extend_module"]
    assert "extend_module" in tokens("- flaw (extend_module): the module")
    # after the completion prefix, a move name is one choice, not a forced space first
    assert tokens(prompts.completion_prefix + "write_code target=") == [
        "write_code",
        "Ġtarget",
        "=",
    ]
    # only whole words: a grammar word inside another word is not split out
    assert "ac2" not in tokens("xac2 ac2x")


def test_every_offered_move_and_value_is_a_grammar_word() -> None:
    words = set(grammar_words())
    # episodes the word list was not read from (other seeds), every type
    for n, episode_type in enumerate(EPISODE_TYPES):
        spec = EpisodeSpec(
            episode_type=episode_type, seed=777 + n, difficulty=0.9, stage=int(episode_type[2])
        )
        for observation in random_play(spec):
            for move in observation.moves:
                assert move.name in words
                assert {v for a in move.args for v in a.values if not v.isdigit()} <= words
