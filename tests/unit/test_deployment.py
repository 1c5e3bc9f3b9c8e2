"""The compose file and the Dockerfile stay in step with the services they run.

Docker does not run in the test environment, so these tests read the files: every variable
compose sets must be a setting the service reads (and a valid value for it), every port must be
the one the service listens on, and every service the code has must be deployed.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.api_keys.keys import parse_keys_file
from shared.devstack.processes import SERVICES
from shared.settings import RequiresSecrets, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::(?P<kind>[-?])(?P<text>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compose services that run one of ours: ``python -m services.<name>``."""
    return {
        name: spec
        for name, spec in compose["services"].items()
        if spec.get("command", [None] * 3)[:2] == ["python", "-m"]
        and spec["command"][2].startswith("services.")
    }


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == module.__name__
    ]
    assert len(found) == 1, f"services/{service}/settings.py defines {found}, expected one class"
    return found[0]


def interpolated(value: object) -> str:
    """The value compose would pass, with required variables given a production-like value."""

    def substitute(match: re.Match[str]) -> str:
        if match["kind"] == "-":
            return match["text"]
        if match["name"].endswith("_KEYS"):  # a keyring: "id:base64 key"
            return "prod1:" + base64.b64encode(match["name"].encode().ljust(32, b"0")).decode()
        return f"production-value-of-{match['name'].lower()}"

    return INTERPOLATION.sub(substitute, str(value))


def http_port(environment: dict[str, Any]) -> tuple[str, int]:
    ports = {name: int(value) for name, value in environment.items() if name.endswith("_PORT")}
    assert len(ports) == 1, f"expected one *_PORT variable, got {sorted(ports)}"
    return next(iter(ports.items()))


def test_compose_deploys_exactly_the_services_in_the_code(compose: dict[str, Any]) -> None:
    with_app = {path.parent.name for path in (ROOT / "services").glob("*/app.py")}
    assert set(app_services(compose)) == set(SERVICES)
    assert with_app <= set(SERVICES), f"services without a compose entry: {with_app - {*SERVICES}}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_its_own_module(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    assert spec["command"] == ["python", "-m", f"services.{service}"]
    assert (ROOT / "services" / service / "app.py").exists()
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_set_is_a_valid_setting_of_the_service(
    compose: dict[str, Any], service: str
) -> None:
    cls = settings_class(service)
    environment = compose["services"][service]["environment"]
    known = {name.upper() for name in cls.model_fields}
    assert set(environment) <= known, f"not settings of {cls.__name__}: {set(environment) - known}"
    values = {name.lower(): interpolated(value) for name, value in environment.items()}
    settings = cls.model_validate(values)  # every value, and the production-only rules
    assert settings.environment == "production"


@pytest.mark.parametrize("service", SERVICES)
def test_secrets_must_be_supplied_by_whoever_runs_compose(
    compose: dict[str, Any], service: str
) -> None:
    cls = settings_class(service)
    if not issubclass(cls, RequiresSecrets):
        return
    environment = compose["services"][service]["environment"]
    for name in cls.model_construct().secret_values():
        variable = name.upper()
        assert str(environment.get(variable, "")).startswith(f"${{{variable}:?"), (
            f"{service}: {variable} must be required from the environment (${{{variable}:?...}})"
        )


@pytest.mark.parametrize("service", SERVICES)
def test_services_with_keyed_apis_mount_the_keys_file_they_read(
    compose: dict[str, Any], service: str
) -> None:
    """The directory is mounted, not the file: a file renamed over the old one (how the
    keys file is replaced) shows through a directory mount only."""
    cls = settings_class(service)
    secrets = cls.model_construct().secret_values() if issubclass(cls, RequiresSecrets) else {}
    if not {"payment_api_key", "analytics_api_key"} & set(secrets):
        return
    spec = compose["services"][service]
    keys_file = Path(spec["environment"]["API_KEYS_FILE"])
    mounts = [interpolated(volume).split(":") for volume in spec["volumes"]]
    [(host, _, mode)] = [m for m in mounts if Path(m[1]) == keys_file.parent]
    assert mode == "ro"
    parse_keys_file((ROOT / host / keys_file.name).read_text())  # the shipped file parses


@pytest.mark.parametrize("service", SERVICES)
def test_health_check_and_published_port_match_the_settings(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    variable, port = http_port(spec["environment"])
    assert port == settings_class(service).model_fields[variable.lower()].default
    assert f"http://127.0.0.1:{port}/health/ready" in " ".join(spec["healthcheck"]["test"])
    published = spec.get("ports", [])
    assert published == ([f"{port}:{port}"] if variable.endswith("_API_PORT") else [])


@pytest.mark.parametrize("service", SERVICES)
def test_service_starts_after_infrastructure_and_topics(
    compose: dict[str, Any], service: str
) -> None:
    assert compose["services"][service]["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "mongodb": {"condition": "service_healthy"},
        "topics": {"condition": "service_completed_successfully"},
    }


def test_topics_are_created_once_kafka_is_healthy(compose: dict[str, Any]) -> None:
    topics = compose["services"]["topics"]
    assert topics["command"] == ["python", "-m", "shared.messaging.create_topics"]
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert set(topics["environment"]) <= {name.upper() for name in ServiceSettings.model_fields}
    importlib.import_module("shared.messaging.create_topics")


def topic_layout(environment: dict[str, Any]) -> tuple[int, int]:
    """(partitions, replication factor) that a process with ``environment`` creates topics with."""
    fields = ServiceSettings.model_fields

    def setting(name: str) -> int:
        return int(environment.get(name.upper(), fields[name].default))

    return setting("kafka_topic_partitions"), setting("kafka_topic_replication_factor")


def test_services_create_topics_as_the_topics_job_does_within_the_brokers_run(
    compose: dict[str, Any],
) -> None:
    brokers = [s for s in compose["services"].values() if s.get("image", "").startswith("apache/")]
    topics_job = topic_layout(compose["services"]["topics"]["environment"])
    for name, spec in app_services(compose).items():
        assert topic_layout(spec["environment"]) == topics_job, name
    _, replication_factor = topics_job
    assert 1 <= replication_factor <= len(brokers), "Kafka refuses more replicas than brokers"


def test_kafka_is_apache_kafka_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka-topics.sh" in " ".join(kafka["healthcheck"]["test"])
    for spec in app_services(compose).values():
        assert spec["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert spec["environment"]["KAFKA_IDEMPOTENT_PRODUCER"] == "true"


def test_mongodb_is_a_replica_set_the_services_connect_to(compose: dict[str, Any]) -> None:
    mongodb = compose["services"]["mongodb"]
    assert mongodb["image"] == "mongo:8"
    replica_set = mongodb["command"][mongodb["command"].index("--replSet") + 1]
    assert f"rs.initiate({{_id: '{replica_set}'" in mongodb["healthcheck"]["test"][-1]
    for spec in app_services(compose).values():
        assert spec["environment"]["MONGODB_URL"].endswith(f"?replicaSet={replica_set}")


def test_image_installs_every_service_extra_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    default = re.search(r"^ARG SERVICE_EXTRAS=(\S+)$", dockerfile, re.MULTILINE)
    assert default is not None
    assert default[1].split(",") == list(SERVICES)
    assert set(SERVICES) <= set(extras)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users, "the image must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_compose_publishes_only_the_public_apis_and_keeps_the_rest_internal(
    compose: dict[str, Any],
) -> None:
    published = {
        name: [str(port) for port in spec.get("ports", [])]
        for name, spec in compose["services"].items()
        if spec.get("ports")
    }
    # The payment API, the analytics API and dashboard, the launcher's tracking routes; the
    # development mail sink on this host's loopback alone.
    assert published == {
        "payment": ["8000:8000"],
        "analytics": ["8001:8001"],
        "launcher": ["8013:8013"],
        "smtp-sink": ["127.0.0.1:8026:8026"],
    }
    assert compose["networks"]["internal"] == {"internal": True}
    for store in ("kafka", "mongodb"):
        assert compose["services"][store]["networks"] == ["internal"]
