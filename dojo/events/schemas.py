"""The ``schemas/`` folder: JSON Schema and a golden sample per event type and version.

Layout: ``schemas/<EventType>/v<N>.schema.json`` and ``v<N>.sample.json``.
Files of older versions are never rewritten: they are the record of what was
once on the wire, and every old sample must keep decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojo.events.codec import EVENT_TYPES, current_version
from dojo.events.samples import sample_events

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def model_schema(event_type: str) -> dict[str, Any]:
    return dict(EVENT_TYPES[event_type].model_json_schema(mode="serialization"))


def expected_files() -> dict[Path, str]:
    """The current-version files the models imply, relative to the schema folder."""
    samples = {event.event_type: event for event in sample_events()}
    files: dict[Path, str] = {}
    for name in EVENT_TYPES:
        version = current_version(name)
        files[Path(name) / f"v{version}.schema.json"] = _dump(model_schema(name))
        files[Path(name) / f"v{version}.sample.json"] = _dump(
            json.loads(samples[name].model_dump_json())
        )
    return files


@dataclass(frozen=True)
class Mismatch:
    path: Path
    problem: str


def check(schema_dir: Path = SCHEMA_DIR) -> list[Mismatch]:
    """Where the models and ``schema_dir`` disagree (current versions only)."""
    problems = []
    for rel, text in expected_files().items():
        path = schema_dir / rel
        if not path.exists():
            problems.append(Mismatch(path, "missing"))
        elif rel.name.endswith(".schema.json") and json.loads(path.read_text()) != json.loads(text):
            problems.append(Mismatch(path, "differs from the model's schema"))
    return problems


def export(schema_dir: Path = SCHEMA_DIR, *, overwrite_samples: bool = False) -> list[Path]:
    """Write the current versions' schemas (and samples not yet there). Returns written paths."""
    written = []
    for rel, text in expected_files().items():
        path = schema_dir / rel
        is_sample = rel.name.endswith(".sample.json")
        if is_sample and path.exists() and not overwrite_samples:
            continue
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def all_samples(schema_dir: Path = SCHEMA_DIR) -> list[Path]:
    """Every golden sample of every version ever written."""
    return sorted(schema_dir.glob("*/v*.sample.json"))
