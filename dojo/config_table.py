"""Every setting as the ``DOJO_*`` variable that sets it: the configuration table of
``docs/configuration.md`` and ``dojo config`` are both made from
:class:`~dojo.config.Settings` here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr

from dojo.config import Settings

TABLE_START = "<!-- settings-table:start (dojo config --markdown) -->"
TABLE_END = "<!-- settings-table:end -->"
# the page that holds the table between the markers (relative to the repository root)
TABLE_PAGE = Path("docs") / "configuration.md"


@dataclass(frozen=True)
class SettingRow:
    field: str
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


def setting_rows() -> list[SettingRow]:
    rows = []
    for name, info in Settings.model_fields.items():
        variables = [f"DOJO_{name.upper()}"]
        if isinstance(info.validation_alias, AliasChoices):
            variables += [str(a) for a in info.validation_alias.choices if a not in variables]
        rows.append(
            SettingRow(name, tuple(variables), _shown(info.default), info.description or "")
        )
    return rows


def markdown_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for row in setting_rows():
        names = " or ".join(f"`{v}`" for v in row.variables)
        meaning = row.description.replace("|", "\\|")
        lines.append(f"| {names} | `{row.default}` | {meaning} |")
    return "\n".join(lines)


def effective(settings: Settings) -> dict[str, str]:
    """{variable: value in effect}, secrets masked."""
    return {row.variables[0]: _shown(getattr(settings, row.field)) for row in setting_rows()}


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

    for name in sys.argv[1:] or [str(TABLE_PAGE)]:
        print(f"{name}: {'updated' if update_page(Path(name)) else 'up to date'}")
