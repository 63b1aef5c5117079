"""docker-compose.yml and the Kubernetes manifests, loaded the way the tests compare them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = (DEPLOY / "k8s", DEPLOY / "prometheus")


def interpolate(value: Any) -> Any:
    """``${VAR:-default}`` as docker compose reads it with VAR unset; ``${VAR}`` as empty."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\$\{[A-Z_]+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(interpolate(v)) for k, v in (service.get("environment") or {}).items()}


def manifest_files() -> list[Path]:
    """Every resource file the kustomizations list (and the kustomizations themselves)."""
    files = []
    for folder in KUSTOMIZATIONS:
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        files += [folder / name for name in kustomization.get("resources", [])]
    return files


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in manifest_files():
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


@dataclass(frozen=True)
class Container:
    """A container of a workload (Deployment, StatefulSet, Job) with its environment resolved."""

    workload: dict[str, Any]
    spec: dict[str, Any]
    env: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.workload["metadata"]["name"])

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def image(self) -> str:
        return str(self.spec["image"])

    @property
    def args(self) -> list[str]:
        return [str(a) for a in self.spec.get("args", [])]

    def mounts(self) -> dict[str, str]:
        """mount path -> claim name (volumeClaimTemplates or persistentVolumeClaim)."""
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in self.pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        templates = {
            t["metadata"]["name"]: t["metadata"]["name"]
            for t in self.workload["spec"].get("volumeClaimTemplates", [])
        }
        return {
            m["mountPath"]: claims.get(m["name"]) or templates[m["name"]]
            for m in self.spec.get("volumeMounts", [])
        }


def containers() -> list[Container]:
    config_maps = {name: d.get("data", {}) for name, d in by_kind("ConfigMap").items()}
    found = []
    for doc in manifests():
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        for spec in doc["spec"]["template"]["spec"]["containers"]:
            env: dict[str, str] = {}
            for source in spec.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps[source["configMapRef"]["name"]])
            env.update({e["name"]: str(e["value"]) for e in spec.get("env", []) if "value" in e})
            found.append(Container(doc, spec, env))
    return found


def dojo_containers() -> dict[str, Container]:
    return {c.name: c for c in containers() if c.image.split(":")[0] == "dojo"}


def setting_variables() -> set[str]:
    """Every variable Settings reads: DOJO_<field>, and aliases such as ANTHROPIC_API_KEY."""
    from dojo.config import VARIABLES

    return {name for variable in VARIABLES.values() for name in variable.names}


def settings_from(env: dict[str, str]) -> Any:
    """The Settings a container with ``env`` gets (validates every value)."""
    from dojo.config import VARIABLES, Settings

    keys = {v.name: v.key for v in VARIABLES.values()}
    return Settings(**{keys[k]: v for k, v in env.items() if k in keys and v != ""})


COMPOSE: dict[str, Any] = compose()
SERVICES: dict[str, Any] = COMPOSE["services"]
#: the services built from deploy/Dockerfile
DOJO = {
    name: s
    for name, s in SERVICES.items()
    if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
}
KAFKA = {name: s for name, s in SERVICES.items() if s["image"].startswith("apache/kafka:")}
#: the settings every Dojo service shares (x-dojo-env)
SHARED_ENV = {k: str(interpolate(v)) for k, v in COMPOSE["x-dojo-env"].items()}
