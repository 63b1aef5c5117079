"""The Kubernetes manifests (deploy/k8s, deploy/prometheus) agree with the code and with
docker-compose.yml: the same commands, settings, topics, Kafka settings and roles."""

from __future__ import annotations

import re

import pytest
from deploy_files import (
    DEPLOY,
    DOJO,
    KAFKA,
    ROOT,
    SHARED_ENV,
    Container,
    by_kind,
    dojo_containers,
    manifest_files,
    setting_variables,
    settings_from,
)
from typer.testing import CliRunner

from dojo.cli import app
from dojo.topics import EPISODE_PARTITIONS, TOPICS
from streams.worker import APPS

CONTAINERS = dojo_containers()
STATEFUL = by_kind("StatefulSet")
DEPLOYMENTS = by_kind("Deployment")


def test_every_file_in_deploy_k8s_is_applied() -> None:
    listed = {p.resolve() for p in manifest_files()}
    on_disk = {
        p.resolve()
        for folder in ("k8s", "prometheus")
        for p in (DEPLOY / folder).glob("*.yaml")
        if p.name != "kustomization.yaml"
    }
    assert listed == on_disk


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_commands_are_real_cli_commands(name: str) -> None:
    result = CliRunner().invoke(app, [*CONTAINERS[name].args, "--help"])
    assert result.exit_code == 0, result.output


def test_the_same_roles_as_the_compose_file() -> None:
    def roles(commands: list[list[str]]) -> set[tuple[str, ...]]:
        return {tuple(c) for c in commands}

    k8s = roles([c.args for c in CONTAINERS.values()])
    assert k8s == roles([s["command"] for s in DOJO.values()])
    apps = {c.args[-1] for c in CONTAINERS.values() if c.args[:2] == ["streams", "worker"]}
    assert apps == set(APPS)


def test_environment_names_only_real_settings_and_matches_compose() -> None:
    known = setting_variables()
    config = by_kind("ConfigMap")["dojo-env"]["data"]
    # the same settings as the compose file, but for the brokers' addresses
    assert {k: v for k, v in config.items() if k != "DOJO_KAFKA_BOOTSTRAP"} == {
        k: v for k, v in SHARED_ENV.items() if k != "DOJO_KAFKA_BOOTSTRAP"
    }
    brokers = STATEFUL["kafka"]
    advertised = {
        f"kafka-{n}.{brokers['spec']['serviceName']}:9092"
        for n in range(brokers["spec"]["replicas"])
    }
    for name, container in CONTAINERS.items():
        assert set(container.env) <= known, (name, set(container.env) - known)
        settings = settings_from(container.env)
        assert settings.kafka.bootstrap is not None
        assert set(settings.kafka.bootstrap.split(",")) == advertised, name


def test_kafka_is_three_kraft_nodes_like_the_compose_brokers() -> None:
    kafka = STATEFUL["kafka"]
    assert kafka["spec"]["replicas"] == 3
    (container,) = kafka["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: str(e["value"]) for e in container["env"]}
    compose_env = next(iter(KAFKA.values()))["environment"]
    assert container["image"] == next(iter(KAFKA.values()))["image"]
    # node ids and advertised listeners come from the pod's ordinal (see the command)
    per_node = {"KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS"}
    assert {k: v for k, v in env.items() if k not in per_node} == {
        k: str(v) for k, v in compose_env.items() if k not in per_node
    }
    service = kafka["spec"]["serviceName"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
        f"{n}@kafka-{n}.{service}:9093" for n in range(3)
    )
    assert "KAFKA_NODE_ID=${HOSTNAME##*-}" in " ".join(container["command"])
    assert by_kind("Service")[service]["spec"]["clusterIP"] == "None"
    assert by_kind("PodDisruptionBudget")["kafka"]["spec"]["maxUnavailable"] == 1


def test_the_topics_job_creates_the_tables_topics() -> None:
    job = by_kind("Job")["dojo-topics"]
    assert CONTAINERS["dojo-topics"].args == ["topics", "create"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_the_sink_is_one_statefulset_replica_alone_on_its_store() -> None:
    sink = CONTAINERS["sink"]
    assert sink.workload["kind"] == "StatefulSet" and sink.workload["spec"]["replicas"] == 1
    settings = settings_from(sink.env)
    store_dir = str(settings.store.path.parent)
    claim = sink.mounts()[store_dir]
    (template,) = sink.workload["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == claim
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    for name, other in CONTAINERS.items():
        if name != "sink":
            assert claim not in other.mounts().values(), name
    # the store's readers reach it through the sink's service
    service = by_kind("Service")["sink"]
    (port,) = service["spec"]["ports"]
    assert settings.streams.web_host == "0.0.0.0"
    assert port["targetPort"] == settings.streams.web_port
    assert settings.store.url == f"http://sink:{port['port']}/store/query"


def test_scoring_scales_within_the_partitions_and_env_workers_scale() -> None:
    assert 1 < DEPLOYMENTS["scoring"]["spec"]["replicas"] <= EPISODE_PARTITIONS
    assert DEPLOYMENTS["env-worker"]["spec"]["replicas"] >= 2


def test_the_learner_is_one_pod_on_a_gpu_sharing_the_adapter_registry() -> None:
    learner = CONTAINERS["learner"]
    assert learner.args == ["learner"] and learner.image == "dojo:cuda"
    assert learner.spec["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert learner.workload["spec"]["replicas"] == 1
    assert learner.workload["spec"]["strategy"]["type"] == "Recreate"
    data_dir = str(settings_from(learner.env).data_dir)
    shared = learner.mounts()[data_dir]
    claim = by_kind("PersistentVolumeClaim")[shared]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for reader in ("env-worker", "evaluator"):
        assert CONTAINERS[reader].mounts().get(data_dir) == shared, reader
    others = {c.image for n, c in CONTAINERS.items() if n != "learner"}
    assert others == {"dojo:cpu"}


def test_dashboard_and_prometheus_agree_on_the_metrics_endpoint() -> None:
    dashboard = CONTAINERS["dashboard"]
    settings = settings_from(dashboard.env)
    (port,) = by_kind("Service")["dashboard"]["spec"]["ports"]
    assert settings.dashboard.host == "0.0.0.0" and port["targetPort"] == settings.dashboard.port
    annotations = dashboard.workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.dashboard.port)
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert f'"dashboard:{port["port"]}"' in config


def test_topic_names_mentioned_are_in_the_table() -> None:
    prefix = SHARED_ENV["DOJO_TOPIC_PREFIX"]
    known = {spec.name(prefix) for spec in TOPICS.values()}
    for path in [*manifest_files(), DEPLOY / "README.md", ROOT / "docs" / "scaling.md"]:
        text = path.read_text()
        mentioned = set(re.findall(rf"(?<![/\w-]){re.escape(prefix)}\.[a-z]+\b", text))
        assert mentioned <= known, (path.name, mentioned - known)


def test_container_fixture_resolves_config_maps() -> None:
    # the helper must see the ConfigMap's settings, or the tests above check nothing
    assert isinstance(CONTAINERS["sink"], Container)
    assert CONTAINERS["sink"].env["DOJO_TOPIC_PREFIX"] == SHARED_ENV["DOJO_TOPIC_PREFIX"]
