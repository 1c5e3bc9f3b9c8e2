"""The Kubernetes manifests render, are valid, and stay in step with the code.

Each overlay is rendered with ``kubectl kustomize``; core objects are validated with
``kubernetes-validate`` (strict: an unknown field fails), custom resources against the CRD
schemas in ``deploy/kubernetes/crds/``. The rest pins what the manifests promise: every topic
declared, scaling never above a topic's partitions, probes, limits, a grace period longer than
the broker's shutdown, settings and secret files the services read, and a public surface of
the payment and analytics APIs and the tracking routes only.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.events.topics import ALL_TOPICS
from shared.messaging.broker import GRACEFUL_TIMEOUT_SECONDS
from shared.secret_files import readable_from_file
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
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
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


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_are_valid_kubernetes(overlay: str) -> None:
    for resource in rendered(overlay):
        if not is_custom(resource):
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_the_vendored_crd_schemas(overlay: str) -> None:
    for resource in filter(is_custom, rendered(overlay)):
        key = (resource["apiVersion"], resource["kind"])
        assert key in crd_schemas(), f"no vendored CRD schema for {key}"
        jsonschema.validate(resource, crd_schemas()[key])


def test_vendored_crds_are_valid_custom_resource_definitions() -> None:
    for crd in vendored_crds():
        kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_fails_the_crd_check() -> None:
    topic = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "t"},
        "spec": {"partitions": 3, "replica": 3},
    }
    with pytest.raises(jsonschema.ValidationError, match="replica"):
        jsonschema.validate(topic, crd_schemas()["kafka.strimzi.io/v1beta2", "KafkaTopic"])


def test_generated_manifests_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("generate", KUBERNETES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = generate  # its dataclasses look their module up by name
    try:
        spec.loader.exec_module(generate)
        files = generate.rendered()
    finally:
        del sys.modules["generate"]

    for path, text in files.items():
        assert path.read_text() == text, (
            f"{path.name} is stale: python deploy/kubernetes/generate.py"
        )


@requires_kubectl
def test_production_declares_exactly_the_topics_the_code_uses() -> None:
    topics = of_kind("production", "KafkaTopic")

    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(ALL_TOPICS)
    for topic in topics:
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2


@requires_kubectl
def test_production_kafka_and_mongodb_survive_the_loss_of_one_node() -> None:
    (kafka,) = of_kind("production", "Kafka")
    (nodes,) = of_kind("production", "KafkaNodePool")
    (mongodb,) = of_kind("production", "MongoDBCommunity")
    config = config_map("production", "campaign-config")

    assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == 3
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert nodes["spec"]["replicas"] == 3
    assert mongodb["spec"]["members"] == 3
    assert config["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumers_scale_on_lag_never_above_their_topics_partitions(overlay: str) -> None:
    declared = {
        t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(overlay, "KafkaTopic")
    }
    created = int(config_map(overlay, "campaign-config")["KAFKA_TOPIC_PARTITIONS"])
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(overlay, "ScaledObject")}

    deployments = {d["metadata"]["name"]: d for d in of_kind(overlay, "Deployment")}

    assert set(scaled) == {"planner", "segmenter", "content", "launcher", "analytics"}
    for service in scaled:
        # A surge pod beyond the partitions would hold none, never be ready, stall a rollout.
        assert deployments[service]["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    for service, scaled_object in scaled.items():
        for trigger in scaled_object["spec"]["triggers"]:
            topic = trigger["metadata"]["topic"]
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["consumerGroup"] == f"{service}.{topic}"
            assert scaled_object["spec"]["maxReplicaCount"] <= declared.get(topic, created)


@requires_kubectl
def test_the_payment_api_scales_on_cpu() -> None:
    (autoscaler,) = of_kind("production", "HorizontalPodAutoscaler")

    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "payment"
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_probed_limited_and_given_time_to_drain(overlay: str) -> None:
    for deployment, container in containers(overlay):
        pod = deployment["spec"]["template"]["spec"]
        (port,) = container["ports"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pre_stop + GRACEFUL_TIMEOUT_SECONDS
        ports = [e["value"] for e in container["env"] if e["name"].endswith("_PORT")]
        assert ports == [str(port["containerPort"])]
        assert pod["containers"][0]["command"][-1] == f"services.{deployment['metadata']['name']}"


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_setting_of_its_service(overlay: str) -> None:
    shared = config_map(overlay, "campaign-config")
    for deployment, container in containers(overlay):
        fields = settings_class(deployment["metadata"]["name"]).model_fields
        for variable in [*shared, *(e["name"] for e in container["env"])]:
            name = variable.lower()
            if name.endswith("_file") and name.removesuffix("_file") in fields:
                setting = name.removesuffix("_file")
                assert readable_from_file(setting, fields[setting]), variable
            else:
                assert name in fields, f"{deployment['metadata']['name']}: {variable}"


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_file_is_mounted(overlay: str) -> None:
    shared = config_map(overlay, "campaign-config")
    for _, container in containers(overlay):
        files = [e["value"] for e in container["env"] if e["name"].endswith("_FILE")]
        files += [v for k, v in shared.items() if k.endswith("_FILE")]
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        for path in files:
            assert str(Path(path).parent) in mounts, path


@requires_kubectl
def test_local_secrets_are_development_only() -> None:
    for secret in of_kind("local", "Secret"):
        for key, value in secret["data"].items():
            text = base64.b64decode(value).decode()
            assert text.startswith(("dev-only-", "mongodb://mongodb:", "smtp://smtp-sink:")), key


@requires_kubectl
def test_production_carries_no_secret_values() -> None:
    secrets = of_kind("production", "Secret")

    assert [s["metadata"]["name"] for s in secrets] == ["kafka-username"]


# Created beforehand (README: Kubernetes) or by the Strimzi and MongoDB operators.
PRODUCTION_SECRETS = {
    "analytics-api-key",
    "dashboard-secrets",
    "payment-secrets",
    "launcher-secrets",
    "campaign-services",
    "campaign-kafka-cluster-ca-cert",
    "campaign-mongodb-admin-campaign-app",
}


def secret_references(overlay: str) -> Iterator[tuple[str, bool]]:
    """``(name, optional)`` of every Secret the rendered objects read."""
    for deployment, container in containers(overlay):
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                yield volume["secret"]["secretName"], volume["secret"].get("optional", False)
        for variable in container["env"]:
            if ref := variable.get("valueFrom", {}).get("secretKeyRef"):
                yield ref["name"], ref.get("optional", False)
    for authentication in of_kind(overlay, "TriggerAuthentication"):
        for ref in authentication["spec"]["secretTargetRef"]:
            yield ref["name"], False


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_required_secret_is_generated_or_created_beforehand(overlay: str) -> None:
    generated = {s["metadata"]["name"] for s in of_kind(overlay, "Secret")}
    beforehand = PRODUCTION_SECRETS if overlay == "production" else set()

    for name, optional in secret_references(overlay):
        assert optional or name in generated | beforehand, name


@requires_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_public_apis_and_tracking_routes_are_reachable(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(overlay, "NetworkPolicy")}
    (ingress,) = of_kind(overlay, "Ingress")

    deny = policies.pop("campaign-deny-ingress")
    assert "ingress" not in deny
    assert deny["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/part-of": "campaign-orchestration"}
    }
    public = policies.pop("campaign-public-apis")
    assert public["podSelector"]["matchExpressions"][0]["values"] == [
        "payment",
        "analytics",
        "launcher",
    ]
    scrape = policies.pop("campaign-metrics-scrape")
    assert scrape["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert policies == {}
    routes = {
        (rule["http"]["paths"][i]["backend"]["service"]["name"], path["path"])
        for rule in ingress["spec"]["rules"]
        for i, path in enumerate(rule["http"]["paths"])
    }
    assert routes == {
        ("payment", "/"),
        ("analytics", "/"),
        ("launcher", "/t/"),
        ("launcher", "/u/"),
    }
