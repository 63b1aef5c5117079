"""The tiny base: built once from a fixed recipe, saved atomically, reloaded from disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from dojo.policy import tiny_base
from dojo.policy.tiny_base import MARKER, ensure_tiny_base, tiny_digest


def test_built_once_then_reused(tmp_path: Path) -> None:
    folder = ensure_tiny_base(tmp_path)
    assert folder.name == f"tiny-{tiny_digest()}"
    assert (folder / MARKER).is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_base(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]


def test_same_recipe_same_bytes(tmp_path: Path, tiny_dir: Path) -> None:
    other = ensure_tiny_base(tmp_path)
    assert (other / "tokenizer.json").read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    mine, theirs = load_file(other / "model.safetensors"), load_file(tiny_dir / "model.safetensors")
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # weights are a real random init, not zeros or a constant
    assert float(mine["model.layers.0.self_attn.q_proj.weight"].std()) > 0.01


def test_racing_builders_agree_and_leave_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
            results.append(ensure_tiny_base(tmp_path))
        except BaseException as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(builds) >= 2  # the race really happened: several built, one won
    assert len(set(results)) == 1
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [results[0].name]


def test_any_text_stays_encodable(tiny_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert 1000 <= len(tokenizer) <= 2048
    for text in [
        "ask_question dimension=scope | Why?",
        "Ünïcödé ✓ 😀 日本語",
        "tab\there\r\nnull\x00byte",
        "",
    ]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
