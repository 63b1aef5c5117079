"""The event models and ``schemas/`` agree, and every golden sample ever written still decodes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Literal, Union

import pytest
from pydantic import Field, TypeAdapter

from dojo.events import EVENT_TYPES, PhaseStarted, decode, encode, schemas
from dojo.events import codec as codec_module
from dojo.events.codec import current_version


def test_models_and_schemas_folder_agree() -> None:
    problems = schemas.check()
    assert problems == [], "run `dojo schemas export`: " + "; ".join(
        f"{p.path}: {p.problem}" for p in problems
    )


def test_every_event_type_has_a_schema_and_a_sample() -> None:
    for name in EVENT_TYPES:
        version = current_version(name)
        assert (schemas.SCHEMA_DIR / name / f"v{version}.schema.json").is_file()
        assert (schemas.SCHEMA_DIR / name / f"v{version}.sample.json").is_file()


@pytest.mark.parametrize("sample", schemas.all_samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_golden_sample_still_decodes(sample: Path) -> None:
    event = decode(sample.read_bytes())
    assert event.event_type == sample.parent.name
    # decoding brings it to the current version, which encodes and decodes again unchanged
    assert event.schema_version == current_version(event.event_type)
    assert decode(encode(event)) == event


def test_a_changed_model_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "schemas"
    shutil.copytree(schemas.SCHEMA_DIR, folder)
    assert schemas.check(folder) == []

    class PhaseStartedWithExtra(PhaseStarted):  # a field added without a new version
        attempt: int = Field(default=0)

    monkeypatch.setitem(EVENT_TYPES, "PhaseStarted", PhaseStartedWithExtra)
    problems = schemas.check(folder)
    assert [p.path.relative_to(folder).as_posix() for p in problems] == [
        "PhaseStarted/v1.schema.json"
    ]


def test_a_missing_schema_file_is_caught(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    shutil.copytree(schemas.SCHEMA_DIR, folder)
    (folder / "DecisionMade" / f"v{current_version('DecisionMade')}.schema.json").unlink()
    assert [p.problem for p in schemas.check(folder)] == ["missing"]


def test_export_writes_missing_files_and_never_rewrites_samples(tmp_path: Path) -> None:
    written = schemas.export(tmp_path)
    assert len(written) == 2 * len(EVENT_TYPES)
    assert schemas.check(tmp_path) == []
    sample = tmp_path / "PhaseStarted" / "v1.sample.json"
    sample.write_text(json.dumps(json.loads(sample.read_text())) + "\n")  # an older spelling
    assert schemas.export(tmp_path) == []
    assert sample.read_text().count("\n") == 1  # left as it was


def test_an_old_version_decodes_through_its_upcaster(monkeypatch: pytest.MonkeyPatch) -> None:
    """A v2 model whose v1 messages (the golden sample) are upgraded on the way in."""

    class PhaseStartedV2(PhaseStarted):
        schema_version: Literal[2] = 2  # type: ignore[assignment]
        attempt: int

    def v1_to_v2(data: dict[str, object]) -> dict[str, object]:
        return {**data, "attempt": 1}

    monkeypatch.setitem(EVENT_TYPES, "PhaseStarted", PhaseStartedV2)
    union = Annotated[Union[tuple(EVENT_TYPES.values())], Field(discriminator="type")]  # noqa: UP007
    monkeypatch.setattr(codec_module, "_ADAPTER", TypeAdapter(union))
    v1 = (schemas.SCHEMA_DIR / "PhaseStarted" / "v1.sample.json").read_bytes()
    with pytest.raises(codec_module.DecodeError):
        decode(v1)  # no upcaster registered yet: a clear failure, not a guess
    monkeypatch.setitem(codec_module.UPCASTERS, ("PhaseStarted", 1), v1_to_v2)
    event = decode(v1)
    assert isinstance(event, PhaseStartedV2)
    assert (event.schema_version, event.attempt) == (2, 1)
