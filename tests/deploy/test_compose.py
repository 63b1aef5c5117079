"""docker-compose.yml agrees with the code: commands, settings, stream apps, topics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import Settings
from dojo.topics import TOPICS
from streams.worker import APPS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOJO = {name: s for name, s in SERVICES.items() if s.get("image") == "dojo:latest"}


def test_kafka_runs_in_kraft_mode_without_auto_created_topics() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka


def test_every_dojo_container_is_built_from_deploy() -> None:
    assert set(DOJO) == {"topics", "sink", "scoring", "env-worker"}
    for service in DOJO.values():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / "deploy" / "Dockerfile").is_file()


@pytest.mark.parametrize("name", sorted(DOJO))
def test_commands_are_real_cli_commands(name: str) -> None:
    command = DOJO[name]["command"]
    # --help parses every option given before it: a renamed command or option fails here
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_stream_workers_run_known_apps_and_topics_come_from_the_table() -> None:
    apps = [s["command"][-1] for s in DOJO.values() if s["command"][:2] == ["streams", "worker"]]
    assert sorted(apps) == sorted(APPS)
    assert DOJO["topics"]["command"][:2] == ["topics", "create"]
    for name in ("sink", "scoring", "env-worker"):
        assert DOJO[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_environment_names_only_real_settings_and_points_at_the_kafka_service() -> None:
    fields = {f"DOJO_{n.upper()}" for n in Settings.model_fields}
    for name, service in DOJO.items():
        env = service["environment"]
        assert set(env) <= fields, (name, set(env) - fields)
        settings = Settings(**{k[5:].lower(): v for k, v in env.items()})  # validates values
        host, port = str(settings.kafka_bootstrap).split(":")
        assert (
            host == "kafka"
            and f"PLAINTEXT://kafka:{port}"
            in (SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])
        )


def test_topic_names_mentioned_are_in_the_table() -> None:
    prefix = DOJO["sink"]["environment"]["DOJO_TOPIC_PREFIX"]
    known = {spec.name(prefix) for spec in TOPICS.values()}
    text = (ROOT / "docker-compose.yml").read_text()
    mentioned = set(re.findall(rf"(?<![/\w]){re.escape(prefix)}\.[a-z]+\b", text))  # not paths
    assert mentioned <= known, mentioned - known
