"""What the Kubernetes manifests promise about the services: consumers scale on lag never above
their topics' partitions and the payment API on CPU; every service is probed, limited and given
longer to stop than the broker's shutdown; every variable is a setting of its service and every
secret file is mounted from a Secret that exists or is created beforehand; only the payment and
analytics APIs and the tracking routes are reachable.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.messaging.broker import GRACEFUL_TIMEOUT_SECONDS
from shared.secret_files import readable_from_file
from tests.support.kubernetes import (
    OVERLAYS,
    config_map,
    containers,
    of_kind,
    requires_kubectl,
    settings_class,
)


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
