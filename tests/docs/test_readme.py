"""The README stays true to the code: settings, topics, commands."""

from __future__ import annotations

from pathlib import Path

from dojo.config import Settings
from dojo.config_table import TABLE_END, TABLE_START, markdown_table
from dojo.topics import TOPICS

README = Path(__file__).resolve().parents[2] / "README.md"


def _settings_block() -> str:
    text = README.read_text()
    return text[text.index(TABLE_START) + len(TABLE_START) : text.index(TABLE_END)]


def test_every_setting_is_in_the_configuration_table() -> None:
    block = _settings_block()
    missing = [
        f"DOJO_{n.upper()}" for n in Settings.model_fields if f"`DOJO_{n.upper()}`" not in block
    ]
    assert missing == [], f"run `python -m dojo.config_table README.md`; missing: {missing}"


def test_the_configuration_table_is_current() -> None:
    assert _settings_block().strip() == markdown_table(), (
        "defaults or descriptions changed: run `python -m dojo.config_table README.md`"
    )


def test_every_topic_is_documented() -> None:
    text = README.read_text()
    for spec in TOPICS.values():
        row = f"| `{spec.name('dojo')}` | {spec.partitions} |"
        assert row in text, row
