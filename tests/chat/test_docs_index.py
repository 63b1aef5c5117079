"""The --docs index: BM25 (bm25s) over passages of a folder's text files, with their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from dojo.chat import docs_index
from dojo.chat.docs_index import DocsIndex


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "pagination.md").write_text(
        "# Pagination\nThe API pages results with opaque cursors.\nPass the cursor back.\n"
    )
    (tmp_path / "docs" / "auth.md").write_text("# Authentication\nBearer tokens in a header.\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "client.py").write_text(
        "def next_page(cursor):\n    '''Fetch the page after cursor.'''\n    return cursor\n"
    )
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "cursor.md").write_text("cursor cursor cursor cursor\n")
    (tmp_path / "blob.md").write_bytes(b"cursor\0\0binary")
    return tmp_path


def test_a_search_finds_the_passage_that_answers_with_its_source(folder: Path) -> None:
    index = DocsIndex.build(folder)
    hits = index.search("how are results paged with a cursor", k=3)
    assert hits, "nothing found"
    best = hits[0].passage
    assert best.label == "docs/pagination.md:1-3"
    assert "opaque cursors" in best.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score > 0 for h in hits)
    # hidden folders and binary files are never read
    assert {p.path for p in index.passages} == {
        "docs/auth.md",
        "docs/pagination.md",
        "src/client.py",
    }


def test_code_searches_read_code_only(folder: Path) -> None:
    index = DocsIndex.build(folder)
    assert [h.passage.path for h in index.search("cursor page", code=True)] == ["src/client.py"]
    assert "src/client.py" not in [h.passage.path for h in index.search("cursor page", code=False)]


def test_nothing_relevant_finds_nothing(folder: Path, tmp_path: Path) -> None:
    index = DocsIndex.build(folder)
    assert index.search("kubernetes helm chart") == []
    assert index.search("the and of") == []  # stop words only
    assert index.search("   ") == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert DocsIndex.build(empty).search("cursor") == []


def test_long_files_are_cut_into_passages_that_point_at_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs_index, "PASSAGE_LINES", 10)
    lines = [f"line {i} about nothing" for i in range(1, 26)]
    lines[16] = "the retry budget is three attempts"
    (tmp_path / "long.txt").write_text("\n".join(lines) + "\n")
    index = DocsIndex.build(tmp_path)
    assert [p.label for p in index.passages] == [
        "long.txt:1-10",
        "long.txt:11-20",
        "long.txt:21-25",
    ]
    assert index.search("retry budget")[0].passage.label == "long.txt:11-20"


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        DocsIndex.build(tmp_path / "nope")
