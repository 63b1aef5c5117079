"""Every setting as the ``DOJO_*`` variable that sets it: the configuration table of
``docs/configuration.md`` and ``dojo config`` are both made from
:class:`~dojo.config.Settings` here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dojo.config import VARIABLES, Settings

TABLE_START = "<!-- settings-table:start (dojo config --markdown) -->"
TABLE_END = "<!-- settings-table:end -->"
# the page that holds the table between the markers (relative to the repository root)
TABLE_PAGE = Path("docs") / "configuration.md"


@dataclass(frozen=True)
class SettingRow:
    key: str  # Settings(<key>=…): the variable in lower case, without DOJO_
    attribute: str  # where code reads it: learner.lr for settings.learner.lr
    variables: tuple[str, ...]  # the DOJO_ name first, then any alias
    default: str
    description: str


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "empty"
    return str(value)


def _one_line(description: str | None) -> str:
    """A description on one line (an attribute docstring may span several)."""
    return " ".join((description or "").split())


def setting_rows() -> list[SettingRow]:
    return [
        SettingRow(
            v.key, v.attribute, v.names, _shown(v.info.default), _one_line(v.info.description)
        )
        for v in VARIABLES.values()
    ]


def markdown_table() -> str:
    lines = ["| variable | setting | default | meaning |", "|---|---|---|---|"]
    for row in setting_rows():
        names = " or ".join(f"`{v}`" for v in row.variables)
        meaning = row.description.replace("|", "\\|")
        lines.append(f"| {names} | `{row.attribute}` | `{row.default}` | {meaning} |")
    return "\n".join(lines)


def effective(settings: Settings) -> dict[str, str]:
    """{variable: value in effect}, secrets masked."""
    return {v.name: _shown(v.value(settings)) for v in VARIABLES.values()}


def update_page(path: Path) -> bool:
    """Rewrite the table between the markers in ``path``; True if it changed."""
    text = path.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    updated = f"{text[:start]}\n{markdown_table()}\n{text[end:]}"
    if updated == text:
        return False
    path.write_text(updated)
    return True


if __name__ == "__main__":  # python -m dojo.config_table [docs/configuration.md ...]
    import sys

    if {"-h", "--help"} & set(sys.argv[1:]):
        print(
            "usage: python -m dojo.config_table [PAGE ...]\n"
            "rewrite the settings table between the markers of each PAGE "
            f"(default: {TABLE_PAGE.as_posix()})"
        )
        sys.exit(0)
    for name in sys.argv[1:] or [str(TABLE_PAGE)]:
        print(f"{name}: {'updated' if update_page(Path(name)) else 'up to date'}")
