"""docker-compose.yml agrees with the code: commands, settings, stream apps, topics, the
Kafka cluster's settings, the single sink, the scaled workers, the GPU learner."""

from __future__ import annotations

import base64
import re

import pytest
from deploy_files import (
    COMPOSE,
    DEPLOY,
    DOJO,
    KAFKA,
    ROOT,
    SERVICES,
    SHARED_ENV,
    compose_env,
    setting_variables,
    settings_from,
)
from typer.testing import CliRunner

from dojo.cli import app
from dojo.topics import EPISODE_PARTITIONS, TOPICS
from streams.worker import APPS


def test_kafka_is_three_kraft_brokers_with_replication_3_and_min_isr_2() -> None:
    assert len(KAFKA) == 3
    envs = {name: s["environment"] for name, s in KAFKA.items()}
    voters = set()
    for name, env in envs.items():
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert "ZOOKEEPER" not in " ".join(env)
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{SERVICES[name]['hostname']}:9092"
        voters.add(f"{env['KAFKA_NODE_ID']}@{SERVICES[name]['hostname']}:9093")
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        # the data lives on the broker's own volume
        assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in SERVICES[name]["volumes"])
        assert "healthcheck" in SERVICES[name]
    for env in envs.values():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
    cluster_ids = {env["CLUSTER_ID"] for env in envs.values()}
    assert len(cluster_ids) == 1
    assert len(base64.urlsafe_b64decode(cluster_ids.pop() + "==")) == 16  # a UUID
    # Dojo's own topics get the cluster's replication factor too
    assert settings_from(SHARED_ENV).kafka.replication_factor == 3


def test_every_dojo_container_is_built_from_deploy_with_a_cpu_or_cuda_target() -> None:
    assert set(DOJO) >= {"topics", "sink", "scoring", "env-worker", "evaluator", "dashboard"}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    for service in DOJO.values():
        target = service["build"]["target"]
        assert target in {"cpu", "cuda"} and target in stages
        assert service["image"] == f"dojo:{target}"
    # the image pins the torch the project pins
    pinned = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    assert f"ARG TORCH_VERSION={pinned.group(1)}\n" in dockerfile


@pytest.mark.parametrize("name", sorted(DOJO))
def test_commands_are_real_cli_commands(name: str) -> None:
    command = DOJO[name]["command"]
    # --help parses every option given before it: a renamed command or option fails here
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_stream_workers_run_known_apps_and_topics_come_from_the_table() -> None:
    apps = [s["command"][-1] for s in DOJO.values() if s["command"][:2] == ["streams", "worker"]]
    assert sorted(apps) == sorted(APPS)
    assert DOJO["topics"]["command"] == ["topics", "create"]
    for name, service in DOJO.items():
        if name != "topics":
            assert "topics" in service["depends_on"] or "sink" in service["depends_on"], name
    for name in ("sink", "scoring", "env-worker"):
        assert DOJO[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_environment_names_only_real_settings_and_points_at_the_kafka_brokers() -> None:
    known = setting_variables()
    advertised = {
        s["environment"]["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
        for s in KAFKA.values()
    }
    for name, service in DOJO.items():
        env = compose_env(service)
        assert set(env) <= known, (name, set(env) - known)
        settings = settings_from(env)  # validates every value
        assert settings.kafka.bootstrap is not None
        assert set(settings.kafka.bootstrap.split(",")) == advertised, name


def test_the_sink_is_single_and_alone_on_the_store() -> None:
    sink = DOJO["sink"]
    assert sink.get("deploy", {}).get("replicas", 1) == 1 and "scale" not in sink
    store_dir = str(settings_from(compose_env(sink)).store.path.parent)
    mounts = {name: [v.split(":") for v in s.get("volumes", [])] for name, s in SERVICES.items()}
    store_volumes = {volume for volume, path, *_ in mounts["sink"] if path == store_dir}
    assert store_volumes, "the store must live on a volume"
    for name, volumes in mounts.items():
        if name != "sink":
            assert not store_volumes & {v for v, *_ in volumes}, f"{name} mounts the store"
    # readers elsewhere reach the store through the sink's web server
    settings = settings_from(compose_env(sink))
    assert settings.streams.web_host == "0.0.0.0"
    assert settings.store.url == f"http://sink:{settings.streams.web_port}/store/query"


def test_scoring_and_env_workers_scale_within_the_partitions() -> None:
    assert 1 < DOJO["scoring"]["deploy"]["replicas"] <= EPISODE_PARTITIONS
    assert DOJO["env-worker"]["deploy"]["replicas"] >= 2


def test_the_learner_has_a_gpu_and_shares_the_adapter_registry() -> None:
    learner = DOJO["learner"]
    assert learner["command"] == ["learner"]
    assert learner["build"]["target"] == "cuda"
    devices = learner["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert DOJO["learner-cpu"]["command"] == ["learner"]
    data_dir = str(settings_from(SHARED_ENV).data_dir)
    shared = {v.split(":")[0] for v in learner["volumes"] if v.split(":")[1] == data_dir}
    assert shared
    for reader in ("env-worker", "evaluator", "learner-cpu"):
        assert shared <= {v.split(":")[0] for v in DOJO[reader]["volumes"]}, reader
    assert set(COMPOSE["volumes"]) >= shared | {"store"}


def test_dashboard_and_prometheus_agree_on_the_metrics_endpoint() -> None:
    dashboard = settings_from(compose_env(DOJO["dashboard"]))
    assert dashboard.dashboard.host == "0.0.0.0"
    assert f"{dashboard.dashboard.port}:{dashboard.dashboard.port}" in DOJO["dashboard"]["ports"]
    prometheus = SERVICES["prometheus"]
    assert prometheus["profiles"] == ["prometheus"]
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert f'"dashboard:{dashboard.dashboard.port}"' in config
    assert any("deploy/prometheus/prometheus.yml" in v for v in prometheus["volumes"])


def test_topic_names_mentioned_are_in_the_table() -> None:
    prefix = SHARED_ENV["DOJO_TOPIC_PREFIX"]
    known = {spec.name(prefix) for spec in TOPICS.values()}
    text = (ROOT / "docker-compose.yml").read_text()
    mentioned = set(re.findall(rf"(?<![/\w]){re.escape(prefix)}\.[a-z]+\b", text))  # not paths
    assert mentioned <= known, mentioned - known
