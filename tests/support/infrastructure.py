"""Find a Kafka-protocol broker and a MongoDB wire server for the tests.

In order: the addresses in KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL; else Kafka and MongoDB
containers when a Docker engine answers; else the local stack's processes (the same ones
``make up`` runs) on free ports.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.processes import ProcessGroup, free_port


@dataclass(frozen=True)
class TestInfrastructure:
    __test__ = False  # a fixture's value, not a test class, whatever its name

    kafka: str
    mongodb: str
    db_prefix: str
    description: str


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    mongo = MongoDbContainer("mongo:8").with_command("--replSet rs0 --bind_ip_all")
    with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka, mongo:
        mongo.exec(["mongosh", "--quiet", "--eval", "rs.initiate()"])
        host, port = mongo.get_container_host_ip(), mongo.get_exposed_port(27017)
        yield kafka.get_bootstrap_server(), f"mongodb://{host}:{port}/?directConnection=true"


@contextlib.contextmanager
def test_infrastructure(log_dir: Path) -> Iterator[TestInfrastructure]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    kafka, mongodb = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongodb:
        yield TestInfrastructure(kafka, mongodb, prefix, f"given: Kafka {kafka}, MongoDB {mongodb}")
    elif _docker_answers():
        with _containers() as (kafka, mongodb):
            yield TestInfrastructure(
                kafka, mongodb, prefix, "testcontainers: Apache Kafka, MongoDB 8"
            )
    else:
        processes = ProcessGroup(log_dir)
        kafka_port, mongo_port = free_port(), free_port()
        try:
            processes.start_broker("127.0.0.1", kafka_port)
            processes.start_mongo("127.0.0.1", mongo_port)
            yield TestInfrastructure(
                f"127.0.0.1:{kafka_port}",
                f"mongodb://127.0.0.1:{mongo_port}",
                prefix,
                "local processes: tansu (Kafka protocol), mongoeco (MongoDB wire protocol)",
            )
        finally:
            processes.stop()
