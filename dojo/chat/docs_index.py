"""A BM25 index (the ``bm25s`` library) over a folder of local documents and code.

Files are cut into passages of :data:`PASSAGE_LINES` lines, so a hit points at a
place (``path:first-last``) and what is shown is what was read. Nothing leaves the
machine: the index lives in memory for the session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import bm25s

PASSAGE_LINES = 40
MAX_FILE_BYTES = 1_000_000
MAX_PASSAGES = 50_000
CODE_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".c",
        ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".scala", ".sh",
        ".sql", ".lua", ".r",
    }
)  # fmt: skip
TEXT_SUFFIXES = CODE_SUFFIXES | frozenset(
    {
        ".md", ".rst", ".txt", ".adoc", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini",
        ".html", ".css", ".proto", ".graphql", "",
    }
)  # fmt: skip
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
     ".ruff_cache", ".pytest_cache", "dist", "build", ".tox"}
)  # fmt: skip


@dataclass(frozen=True)
class Passage:
    path: str  # relative to the indexed folder
    first: int  # 1-based line numbers
    last: int
    text: str

    @property
    def label(self) -> str:
        return f"{self.path}:{self.first}-{self.last}"

    @property
    def is_code(self) -> bool:
        return Path(self.path).suffix.lower() in CODE_SUFFIXES


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class DocsIndex:
    """BM25 over the passages of every text file under a folder."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self._retriever: bm25s.BM25 | None = None
        if passages:
            tokens = bm25s.tokenize(
                [f"{p.path}\n{p.text}" for p in passages], stopwords="en", show_progress=False
            )
            self._retriever = bm25s.BM25()
            self._retriever.index(tokens, show_progress=False)

    @classmethod
    def build(cls, folder: Path) -> DocsIndex:
        """Index ``folder`` (hidden folders, virtualenvs and build output skipped)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"--docs {folder} is not a folder")
        passages: list[Passage] = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                if name.startswith(".") or path.suffix.lower() not in TEXT_SUFFIXES:
                    continue
                passages += _passages(path, path.relative_to(folder).as_posix())
                if len(passages) >= MAX_PASSAGES:
                    return cls(passages[:MAX_PASSAGES])
        return cls(passages)

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, query: str, k: int = 5, *, code: bool | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` with a positive score, best first;
        ``code`` True/False keeps code files only / everything but code."""
        if self._retriever is None or not query.strip():
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:  # only stop words
            return []
        want = len(self.passages) if code is not None else min(k, len(self.passages))
        results, scores = self._retriever.retrieve(tokens, k=want, show_progress=False)
        hits = []
        for index, score in zip(results[0], scores[0], strict=True):
            passage = self.passages[int(index)]
            if score <= 0 or (code is not None and passage.is_code != code):
                continue
            hits.append(Hit(passage, float(score)))
            if len(hits) == k:
                break
        return hits


def _passages(path: Path, relative: str) -> list[Passage]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        raw = path.read_bytes()
    except OSError:
        return []
    if b"\0" in raw[:4096]:
        return []  # binary
    lines = raw.decode("utf-8", errors="replace").splitlines()
    out = []
    for start in range(0, len(lines), PASSAGE_LINES):
        chunk = lines[start : start + PASSAGE_LINES]
        text = "\n".join(chunk).strip()
        if text:
            out.append(Passage(relative, start + 1, start + len(chunk), text))
    return out
