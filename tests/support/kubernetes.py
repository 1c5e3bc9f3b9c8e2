"""Render the Kubernetes overlays and read what they hold, for the manifest tests.

``rendered`` runs ``kubectl kustomize`` (once per overlay); ``crd_schemas`` are the vendored
CRDs' schemas, closed to unknown fields as ``kubectl apply --validate=strict`` would be.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("local", "production")
# The oldest Kubernetes the manifests are for: the preStop sleep action is on by default from 1.30.
KUBERNETES_VERSION = "1.30"
CUSTOM_GROUPS = ("keda.sh", "kafka.strimzi.io", "mongodbcommunity.mongodb.com")

requires_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed: cannot render the overlays"
)


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(  # noqa: S603 - fixed argv; the overlay is the repository's
        ["kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],  # noqa: S607 - on PATH
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(overlay) if doc["kind"] == kind]


def is_custom(resource: dict[str, Any]) -> bool:
    return str(resource["apiVersion"]).split("/")[0] in CUSTOM_GROUPS


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` refusing fields it does not list, as ``kubectl apply --validate=strict``."""
    schema = dict(schema)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["properties"] = {k: closed(v) for k, v in schema["properties"].items()}
        schema.setdefault("additionalProperties", False)
    if isinstance(schema.get("items"), dict):
        schema["items"] = closed(schema["items"])
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` -> the vendored CRD's openAPIV3Schema."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in vendored_crds():
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schema = version["schema"]["openAPIV3Schema"]
            schemas[api_version, crd["spec"]["names"]["kind"]] = closed(schema)
    return schemas


def vendored_crds() -> Iterator[dict[str, Any]]:
    for path in sorted((KUBERNETES / "crds").glob("*.yaml")):
        yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def containers(overlay: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for deployment in of_kind(overlay, "Deployment"):
        if deployment["metadata"].get("labels", {}).get("app.kubernetes.io/part-of"):
            yield deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def config_map(overlay: str, prefix: str) -> dict[str, str]:
    (found,) = [
        m for m in of_kind(overlay, "ConfigMap") if m["metadata"]["name"].startswith(prefix)
    ]
    data: dict[str, str] = found["data"]
    return data


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    found: type[ServiceSettings] = next(
        value for name, value in vars(module).items() if name.lower() == f"{service}settings"
    )
    return found
