"""Loading AAT, and the code table checked against the real package's own codes and types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from dojo.env import EPISODE_TYPES
from dojo.env.aat import (
    AAT_CODE_MAP,
    AAT_EPISODE_TYPES,
    UNMAPPED_AAT_CODES,
    AATUnavailable,
    load_aat,
    map_code,
    map_codes,
)

DOJO_CODES = {f"B-{i:02d}" for i in range(1, 31)}


def _checkout(root: Path, rl_source: str) -> Path:
    (root / "src" / "rl").mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "rl" / "__init__.py").write_text(rl_source)
    return root


def test_importing_the_adapter_does_not_import_aat(aat_root: Path) -> None:
    code = "import sys, dojo.env.aat, dojo.workers.aat_rollout; print('src' in sys.modules)"
    env = {"DOJO_AAT_PATH": str(aat_root), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.usefixtures("no_src")
def test_load_explains_every_way_aat_can_be_missing(tmp_path: Path) -> None:
    with pytest.raises(AATUnavailable, match="DOJO_AAT_PATH is not set"):
        load_aat(None)
    with pytest.raises(AATUnavailable, match="not an AAT checkout"):
        load_aat(tmp_path)
    broken = _checkout(tmp_path / "broken", "import prometheus_client_missing_here\n")
    with pytest.raises(AATUnavailable, match="prometheus_client_missing_here"):
        load_aat(broken)
    # a failed import leaves the process as it was
    assert "src" not in sys.modules and str(broken.resolve()) not in sys.path
    partial = _checkout(tmp_path / "partial", "class ScenarioCatalog: ...\n")
    with pytest.raises(AATUnavailable, match="lacks EpisodeRunner"):
        load_aat(partial)
    assert "src" not in sys.modules


def test_another_package_named_src_is_never_mixed_up(
    rl: ModuleType, aat_root: Path, tmp_path: Path
) -> None:
    other = _checkout(tmp_path / "other", "")
    with pytest.raises(AATUnavailable, match="different package named 'src'"):
        load_aat(other)
    assert load_aat(aat_root) is rl  # the same checkout again is fine


def test_code_table_covers_aat_and_names_only_canonical_codes(rl: ModuleType) -> None:
    assert set(AAT_CODE_MAP) == set(rl.BEHAVIORAL_CODES) == DOJO_CODES
    for code, row in AAT_CODE_MAP.items():
        assert row.aat_name == rl.BEHAVIORAL_CODES[code].name
        assert (row.dojo_code is None) == (row.fit is None)
        assert row.dojo_code is None or row.dojo_code in DOJO_CODES
        assert row.note, f"{code} needs a reason for its mapping"
    assert UNMAPPED_AAT_CODES == ("B-04", "B-07", "B-09", "B-23", "B-25")


def test_aat_labels_are_translated_not_passed_through() -> None:
    # SPEC §2's caution: AAT B-04 estimates story points, B-12 searches prior art
    assert map_code("B-04") is None
    assert map_code("B-12") == "B-16"
    assert map_code("B-08") == "B-19"
    passed_through = [c for c, row in AAT_CODE_MAP.items() if row.dojo_code == c]
    assert len(passed_through) <= 3, passed_through
    mapped = map_codes(["B-17", "B-18", "B-17", "B-07", "B-99"])
    assert mapped.dojo == ("B-11",)
    assert mapped.unmapped == ("B-07",)
    assert mapped.unknown == ("B-99",)


def test_every_dojo_episode_type_has_an_aat_counterpart_with_its_phases(rl: ModuleType) -> None:
    assert set(AAT_EPISODE_TYPES) == set(EPISODE_TYPES)
    assert set(AAT_EPISODE_TYPES.values()) == set(rl.EPISODE_TYPES)
