"""The real tools accept the files, where they are installed: ``docker compose config`` (or
the older ``docker-compose config``) validates docker-compose.yml against the Compose
specification, with every profile; ``kubectl kustomize`` renders the manifests."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

import pytest
import yaml
from deploy_files import DEPLOY, ROOT, SERVICES, manifests


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def test_docker_compose_config_accepts_the_file_with_every_profile() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose here (the structural tests in test_compose.py still run)")
    profiles = sorted({p for s in SERVICES.values() for p in s.get("profiles", [])})
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    result = subprocess.run(
        [*command, *args, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(SERVICES)


@pytest.mark.parametrize("folder", ["k8s", "prometheus"])
def test_kubectl_kustomize_renders_every_manifest(folder: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here (the structural tests in test_manifests.py still run)")
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / folder)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    namespaced = [d for d in rendered if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"dojo"}
    kinds = Counter(d["kind"] for d in rendered)
    mine = Counter(
        d["kind"]
        for d in manifests()
        if (folder == "k8s") == (d["metadata"]["name"] != "prometheus")
    )
    generated = Counter(["ConfigMap"]) if folder == "prometheus" else Counter()
    assert kinds == mine + generated
