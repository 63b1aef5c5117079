"""The README and docs/ stay true to the code and to each other: settings, topics, links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dojo.config import VARIABLES
from dojo.config_table import TABLE_END, TABLE_PAGE, TABLE_START, markdown_table
from dojo.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / TABLE_PAGE
REGENERATE = f"run `python -m dojo.config_table {TABLE_PAGE.as_posix()}`"


def _settings_block() -> str:
    text = CONFIGURATION.read_text()
    return text[text.index(TABLE_START) + len(TABLE_START) : text.index(TABLE_END)]


def test_every_setting_is_in_the_configuration_table() -> None:
    block = _settings_block()
    missing = [v.name for v in VARIABLES.values() if f"`{v.name}`" not in block]
    assert missing == [], f"{REGENERATE}; missing: {missing}"


def test_the_configuration_table_is_current() -> None:
    assert _settings_block().strip() == markdown_table(), (
        f"defaults or descriptions changed: {REGENERATE}"
    )


def test_every_topic_is_documented() -> None:
    text = README.read_text()
    for spec in TOPICS.values():
        row = f"| `{spec.name('dojo')}` | {spec.partitions} |"
        assert row in text, row


# --- links -------------------------------------------------------------------------

PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_CODE_SPAN.sub("", line))
    return lines


def links(text: str) -> list[str]:
    return [m.group(1) for line in _prose_lines(text) for m in _LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The #anchors of a Markdown page's headings; a repeated heading gets -1, -2, …"""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in _prose_lines(text):
        if m := _HEADING.match(line):
            base = slug(m.group(2))
            n = counts.get(base, 0)
            found.add(f"{base}-{n}" if n else base)
            counts[base] = n + 1
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def broken_links(page: Path) -> list[str]:
    """Every relative link of ``page`` whose file, or heading (#anchor), does not exist."""
    broken = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:, …
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {_shown(file)}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {_shown(file)}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# Other\n\n## A section (SPEC §5)\n\n## A section (SPEC §5)\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#a-section-spec-5) [ok](other.md#a-section-spec-5-1) [ok](#page)"
        " [web](https://example.com/x.md)\n`[code](nowhere.md)`\n\n```\n[code](nowhere.md)\n```\n"
        "[gone](missing.md) [no heading](other.md#nothing) [here](#nothing-here)\n"
    )
    assert [b.split(":")[0] for b in broken_links(page)] == [
        "missing.md",
        "other.md#nothing",
        "#nothing-here",
    ]
