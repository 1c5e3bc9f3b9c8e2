"""The Kubernetes manifests that follow from the code; ``python deploy/kubernetes/generate.py``
writes them:

- ``overlays/<overlay>/scaledobjects.yaml``: one KEDA ScaledObject per consuming service, with a
  Kafka trigger per consumer group it joins (``<service>.<topic>``, as ``shared/runtime.py``
  names them), never scaling above the topics' partitions;
- ``overlays/production/kafka-topics.yaml``: a Strimzi KafkaTopic for every topic of
  ``shared/events/topics.py`` and its dead-letter topic.

Each service is built (not started) to read its subscriptions, so a new subscriber shows up
here; ``tests/unit/test_kubernetes.py`` fails while the committed files differ from this output.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVICES = ("planner", "segmenter", "content", "launcher", "payment", "analytics")
# Services answering the public (launcher's tracking routes, analytics' API) keep two replicas.
MIN_REPLICAS = {"launcher": 2, "analytics": 2}
# Messages waiting per replica before KEDA adds one: a few seconds of any handler's work.
LAG_THRESHOLD = "50"


@dataclass(frozen=True)
class Overlay:
    name: str
    bootstrap_servers: str
    partitions: int
    # Full names: KEDA asks from its own namespace. Production reaches Kafka over SASL_SSL,
    # and the trigger needs the same credentials.
    authentication: str | None = None


OVERLAYS = (
    Overlay("local", "kafka.campaign-local.svc:9092", partitions=3),
    Overlay(
        "production",
        "campaign-kafka-kafka-bootstrap.campaign.svc:9093",
        partitions=6,
        authentication="keda-kafka",
    ),
)
PRODUCTION = OVERLAYS[1]
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


def consumer_groups() -> dict[str, list[tuple[str, str]]]:
    """Each service's ``(consumer group, topic)`` pairs, read from the service as built."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from shared.settings import ServiceSettings

    groups: dict[str, list[tuple[str, str]]] = {}
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app")
        settings_module = importlib.import_module(f"services.{name}.settings")
        settings_cls = next(
            value
            for key, value in vars(settings_module).items()
            if key.lower() == f"{name}settings" and issubclass(value, ServiceSettings)
        )
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            service = app.build(settings_cls())
        pairs = [
            (subscriber.group_id, topic.name)
            for subscriber in service.infra.broker.subscribers
            for topic in subscriber.topics
        ]
        if pairs:
            groups[name] = sorted(pairs)
    return groups


def scaled_object(service: str, groups: list[tuple[str, str]], overlay: Overlay) -> dict[str, Any]:
    metadata: dict[str, str] = {
        "bootstrapServers": overlay.bootstrap_servers,
        "lagThreshold": LAG_THRESHOLD,
        "offsetResetPolicy": "earliest",
        "allowIdleConsumers": "false",
    }
    if overlay.authentication:
        metadata |= {"sasl": "scram_sha512", "tls": "enable"}
    triggers: list[dict[str, Any]] = []
    for group, topic in groups:
        trigger: dict[str, Any] = {
            "type": "kafka",
            "name": group.replace(".", "-").replace("_", "-"),
            "metadata": {**metadata, "consumerGroup": group, "topic": topic},
        }
        if overlay.authentication:
            trigger["authenticationRef"] = {"name": overlay.authentication}
        triggers.append(trigger)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": service, "labels": {"app.kubernetes.io/name": service}},
        "spec": {
            "scaleTargetRef": {"name": service},
            "minReplicaCount": MIN_REPLICAS.get(service, 1),
            # More consumers than partitions would sit idle.
            "maxReplicaCount": overlay.partitions,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    # Every scale-down is a rebalance of each group: not for a passing dip.
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}
                }
            },
            "triggers": triggers,
        },
    }


def resource_name(topic: str) -> str:
    """A Kubernetes name for ``topic`` (no underscores); ``topicName`` keeps the real one."""
    return topic.replace("_", "-")


def kafka_topic(topic: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource_name(topic),
            "labels": {"strimzi.io/cluster": "campaign-kafka"},
        },
        "spec": {
            "topicName": topic,
            "partitions": PRODUCTION.partitions,
            "replicas": REPLICATION_FACTOR,
            "config": {"min.insync.replicas": MIN_INSYNC_REPLICAS},
        },
    }


def documents(items: list[dict[str, Any]], header: str) -> str:
    body = yaml.safe_dump_all(items, sort_keys=False, default_flow_style=False)
    note = "Generated by `python deploy/kubernetes/generate.py`: edit that, not this."
    return f"# {header}\n# {note}\n{body}"


def rendered() -> dict[Path, str]:
    """Every generated file, by path, as it should read."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from shared.events.topics import ALL_TOPICS

    groups = consumer_groups()
    files: dict[Path, str] = {}
    for overlay in OVERLAYS:
        files[HERE / "overlays" / overlay.name / "scaledobjects.yaml"] = documents(
            [scaled_object(service, pairs, overlay) for service, pairs in groups.items()],
            "Each consuming service scales on its consumer groups' lag (KEDA).",
        )
    files[HERE / "overlays" / "production" / "kafka-topics.yaml"] = documents(
        [kafka_topic(topic) for topic in ALL_TOPICS],
        "Every topic and its dead-letter topic (shared/events/topics.py).",
    )
    return files


if __name__ == "__main__":
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
