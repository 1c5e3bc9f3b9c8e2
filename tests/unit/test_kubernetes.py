"""The Kubernetes manifests render and are valid: each overlay is rendered with ``kubectl
kustomize``; core objects are validated with ``kubernetes-validate`` (strict: an unknown field
fails), custom resources against the CRD schemas in ``deploy/kubernetes/crds/``. The generated
files match the code, production declares every topic, and Kafka and MongoDB each survive the
loss of one node.
"""

from __future__ import annotations

import importlib.util
import sys

import jsonschema
import kubernetes_validate
import pytest

from shared.events.topics import ALL_TOPICS
from tests.support.kubernetes import (
    KUBERNETES,
    KUBERNETES_VERSION,
    OVERLAYS,
    config_map,
    crd_schemas,
    is_custom,
    of_kind,
    rendered,
    requires_kubectl,
    vendored_crds,
)


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
