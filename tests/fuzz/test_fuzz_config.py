"""The config loaders, fuzzed: ``Settings`` from ``DOJO_*`` variables and the reward config
loader, 10,000 inputs each.

Settings: any mix of variables either loads — every number finite, and the
settings survive the trip to a child process (``dojo up`` hands them over as
environment variables) unchanged — or fails with a pydantic ``ValidationError``
whose every error names a setting, which is what ``dojo`` prints as
``configuration error DOJO_<NAME>: …`` (checked through the CLI too). Reward
configs: any YAML either loads (and has a version) or fails with a ``ValueError``
that names the file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
import typer
import yaml
from click.testing import CliRunner
from fuzz_strategies import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dojo.cli import app
from dojo.config import VARIABLES as SETTINGS
from dojo.config import Settings, variable_at
from dojo.reward.weights import DEFAULT_CONFIG, load_reward_config
from dojo.workers.supervisor import child_environment

VARIABLES = sorted(v.name for v in SETTINGS.values())


def _literals(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    return [v for arg in get_args(annotation) for v in _literals(arg)]


CHOICES = sorted({c for v in SETTINGS.values() for c in _literals(v.info.annotation)})
# environment values cannot hold NUL or lone surrogates
env_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=24,
)
values = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "1",
            "-1",
            "1e999",
            "inf",
            "-inf",
            "nan",
            "NaN",
            "true",
            "false",
            "yes",
            "off",
            "null",
            "None",
            "[]",
            "{}",
            "1_000",
            "0x10",
            " 5 ",
            "5.0",
            "2**8",
            "127.0.0.1:9092",
            "host:port",
            "a:1,b:2",
            ":9092",
            "kafka:9092,",
            "/tmp/x",
            "~/y",
        ]
    ),
    st.sampled_from(CHOICES),
    st.sampled_from(CHOICES).map(str.lower),
    env_text,
)
environments = st.dictionaries(st.sampled_from(VARIABLES), values, max_size=6)


def _settings_from(env: dict[str, str]) -> Settings:
    """Settings as a process with exactly these DOJO_* variables would load them."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DOJO_") or "API_KEY" in k}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        return Settings()
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


def _floats(settings: Settings) -> dict[str, float]:
    found = {v.key: v.value(settings) for v in SETTINGS.values()}
    return {k: v for k, v in found.items() if isinstance(v, float)}


def test_settings_from_any_environment_load_or_name_the_variable() -> None:
    outcome = {"loaded": 0, "refused": 0}

    @FUZZ
    @given(environments)
    def one(env: dict[str, str]) -> None:
        try:
            settings = _settings_from(env)
        except ValidationError as exc:
            outcome["refused"] += 1
            for problem in exc.errors(include_url=False):
                assert problem["loc"] and variable_at(problem["loc"]) in VARIABLES, problem
                assert problem["msg"].strip()
            return
        outcome["loaded"] += 1
        assert all(math.isfinite(v) for v in _floats(settings).values()), _floats(settings)
        # what a child of `dojo up` loads from the environment it is given
        handed_over = {k: v for k, v in child_environment(settings).items() if k in VARIABLES}
        again = _settings_from(handed_over)
        assert again.model_dump() == settings.model_dump()
        assert again.anthropic.api_key == settings.anthropic.api_key

    one()
    assert outcome["loaded"] > 300 and outcome["refused"] > 3000, outcome


def test_the_cli_names_the_variable_of_a_bad_setting() -> None:
    runner, command = CliRunner(), typer.main.get_command(app)
    for env in ({"DOJO_STAGE": "9"}, {"DOJO_JUDGE_TIMEOUT_S": "inf"}, {"DOJO_BROKER_PORT": "x"}):
        variable = next(iter(env))
        result = runner.invoke(command, ["config", "--json"], env=env)
        assert result.exit_code == 2, result.output
        assert f"configuration error {variable}:" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


REWARD_DATA = yaml.safe_load(DEFAULT_CONFIG.read_text())


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


PATHS = _paths(REWARD_DATA)
yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        st.text(max_size=10),
        st.sampled_from(["B-01", "J", "T+O", "elicit_to_plan", "-0.1"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)


@st.composite
def reward_documents(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["edited", "edited", "part", "text"]))
    if kind == "text":
        return draw(st.one_of(st.text(max_size=200), st.binary(max_size=100)))
    if kind == "part":  # a few top-level sections, possibly wrong (cheap to parse)
        keys = draw(st.lists(st.sampled_from(sorted(REWARD_DATA)), max_size=3, unique=True))
        small = {k: REWARD_DATA[k] for k in keys if k != "behaviours"}
        small.update(draw(st.dictionaries(st.text(max_size=8), yaml_values, max_size=2)))
        return json.dumps(small)
    data = copy.deepcopy(REWARD_DATA)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "scale"]))
            if action == "delete":
                del parent[path[-1]]
            elif action == "scale" and isinstance(parent[path[-1]], int | float):
                parent[path[-1]] = parent[path[-1]] * draw(st.sampled_from([0, -1, 2, 1e9]))
            else:
                parent[path[-1]] = draw(yaml_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced that branch
    # JSON is YAML, and much cheaper to write than block style
    if draw(st.integers(0, 3)):
        return json.dumps(data)
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True)


def test_reward_configs_load_or_name_the_file(tmp_path: Path) -> None:
    target = tmp_path / "reward.yaml"
    outcome = {"loaded": 0, "refused": 0}

    @FUZZ
    @given(reward_documents())
    def one(document: str | bytes) -> None:
        target.write_bytes(document if isinstance(document, bytes) else document.encode())
        try:
            config = load_reward_config(target)
        except ValueError as exc:
            outcome["refused"] += 1
            assert str(target) in str(exc)
            return
        outcome["loaded"] += 1
        assert re.fullmatch(r"r-[0-9a-f]{12}", config.reward_version)

    one()
    assert outcome["loaded"] > 200 and outcome["refused"] > 1000, outcome


@pytest.mark.parametrize("missing", ["does-not-exist.yaml", "."])
def test_an_unreadable_reward_config_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    with pytest.raises(ValueError, match="cannot read the reward config"):
        load_reward_config(tmp_path / missing)
