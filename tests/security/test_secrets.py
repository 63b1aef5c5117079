"""Secrets come only from environment variables or secret files, and are never shown.

The Anthropic API key and the Kafka SASL password: read from ``DOJO_…`` (or a
``DOJO_…_FILE``, for mounted secrets), never from a command-line option (which
would sit in shell history and ``ps``); masked in every rendering of the
settings; kept out of children's environments when they came from a file; and
left out of every error message about them, content included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import VARIABLES, Settings
from dojo.workers.supervisor import child_environment

KEY = "sk-ant-api03-SECRET-scan-me-0123456789abcdef"
PASSWORD = "kafka-SECRET-password-98765"
SECRETS = ("anthropic_api_key", "kafka_sasl_password")


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("ANTHROPIC_API_KEY", "DOJO_ANTHROPIC_API_KEY", "DOJO_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_secrets_from_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(monkeypatch, DOJO_ANTHROPIC_API_KEY=KEY, DOJO_KAFKA_SASL_PASSWORD=PASSWORD)
    assert settings.anthropic.api_key == SecretStr(KEY)
    assert settings.kafka.sasl_password == SecretStr(PASSWORD)
    # the conventional name works too
    assert _load(monkeypatch, ANTHROPIC_API_KEY=KEY).anthropic.api_key == SecretStr(KEY)


def test_secrets_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = _file(tmp_path, "key", f"  {KEY}\n")  # as `echo` or a mounted secret leaves it
    password_file = _file(tmp_path, "password", PASSWORD)
    settings = _load(
        monkeypatch,
        DOJO_ANTHROPIC_API_KEY_FILE=str(key_file),
        DOJO_KAFKA_SASL_PASSWORD_FILE=str(password_file),
    )
    assert settings.anthropic.api_key == SecretStr(KEY)
    assert settings.kafka.sasl_password == SecretStr(PASSWORD)
    # a child of dojo up reads the same files: the values stay out of its environment
    env = child_environment(settings)
    assert env["DOJO_ANTHROPIC_API_KEY_FILE"] == str(key_file)
    assert KEY not in json.dumps(env) and PASSWORD not in json.dumps(env)
    # the same secret in both places is accepted (a child may inherit the variable)
    same = _load(monkeypatch, DOJO_ANTHROPIC_API_KEY=KEY, DOJO_ANTHROPIC_API_KEY_FILE=str(key_file))
    assert same.anthropic.api_key == SecretStr(KEY)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("   \n", "is empty"),
        (b"\xff\xfe" + KEY.encode(), "is not UTF-8 text"),
        ("sk-ant-api03-a-DIFFERENT-key-000000", "different secrets"),
    ],
)
def test_a_bad_secret_file_is_named_and_its_content_is_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    path = tmp_path / "missing" if content is None else _file(tmp_path, "key", content)
    with pytest.raises(ValidationError) as caught:
        _load(monkeypatch, DOJO_ANTHROPIC_API_KEY=KEY, DOJO_ANTHROPIC_API_KEY_FILE=str(path))
    text = str(caught.value)
    assert says in text and "anthropic.api_key_file" in text
    assert KEY not in text and "DIFFERENT" not in text
    # and through the CLI: the variable named, no secret printed
    result = CliRunner().invoke(
        app,
        ["config"],
        env={"DOJO_ANTHROPIC_API_KEY": KEY, "DOJO_ANTHROPIC_API_KEY_FILE": str(path)},
    )
    assert result.exit_code == 2
    assert "configuration error DOJO_ANTHROPIC_API_KEY_FILE" in result.output
    assert KEY not in result.output and "DIFFERENT" not in result.output


def test_secrets_are_masked_wherever_settings_are_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(monkeypatch, DOJO_ANTHROPIC_API_KEY=KEY, DOJO_KAFKA_SASL_PASSWORD=PASSWORD)
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert KEY not in shown and PASSWORD not in shown
    env = {"DOJO_ANTHROPIC_API_KEY": KEY, "DOJO_KAFKA_SASL_PASSWORD": PASSWORD}
    for args in (["config"], ["config", "--json"], ["config", "--markdown"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert KEY not in result.output and PASSWORD not in result.output
    shown = json.loads(CliRunner().invoke(app, ["config", "--json"], env=env).stdout)
    assert shown["DOJO_ANTHROPIC_API_KEY"] != "unset"  # set, but masked


def test_no_command_line_option_takes_a_secret() -> None:
    """A secret on the command line lands in shell history and in ``ps`` for every user."""

    def options(group: object) -> list[str]:
        found = []
        for command in getattr(group, "commands", {}).values():
            found += options(command)
            found += [o for p in getattr(command, "params", []) for o in p.opts]
        return found

    every = options(typer.main.get_command(app))
    assert every  # the walk found the options
    assert [o for o in every if any(w in o for w in ("key", "password", "secret", "token"))] == []
    assert all(hasattr(VARIABLES[f"{s}_file"].info, "annotation") for s in SECRETS)
