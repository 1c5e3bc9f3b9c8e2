"""The whole system as local processes: used by ``make up``, the demo and the tests.

With ``replicas`` above one, each service runs as that many processes (``payment-1``,
``payment-2``...), each with its own HTTP port and instance id (``INSTANCE_ID``: its Kafka
client id, its outbox lease's owner, its log file's name), behind a round-robin balancer
(``balancer``) on the service's usual port.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.processes import (
    SERVICES,
    ProcessGroup,
    answers,
    free_port,
    host_port,
    wait_until,
)
from shared.messaging.broker import ensure_topics

SMTP_SINK_HTTP_PORT = 8026
# Each service's HTTP port variable and its default (payment and analytics serve APIs there).
HTTP_PORTS: Mapping[str, tuple[str, int]] = {
    "planner": ("PLANNER_HEALTH_PORT", 8010),
    "segmenter": ("SEGMENTER_HEALTH_PORT", 8011),
    "content": ("CONTENT_HEALTH_PORT", 8012),
    "launcher": ("LAUNCHER_API_PORT", 8013),
    "payment": ("PAYMENT_API_PORT", 8000),
    "analytics": ("ANALYTICS_API_PORT", 8001),
}


@dataclass(frozen=True)
class StackAddresses:
    kafka: str
    mongodb: str
    smtp: str
    env: Mapping[str, str]
    ad_platform: str = "http://127.0.0.1:8030"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackAddresses:
        source = dict(os.environ if env is None else env)
        return cls(
            kafka=source.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
            mongodb=source.get("MONGODB_URL", "mongodb://localhost:27017"),
            smtp=source.get("LAUNCHER_SMTP_URL", "smtp://127.0.0.1:8025"),
            env=source,
            ad_platform=source.get("LAUNCHER_AD_PLATFORM_URL", "http://127.0.0.1:8030"),
        )

    @property
    def mail_http_port(self) -> int:
        return int(self.env.get("SMTP_SINK_HTTP_PORT", SMTP_SINK_HTTP_PORT))

    @property
    def mail_url(self) -> str:
        """The SMTP sink's messages over HTTP (the demo's shoppers read their email there)."""
        return f"http://127.0.0.1:{self.mail_http_port}"

    def http_port(self, service: str) -> int:
        variable, default = HTTP_PORTS[service]
        return int(self.env.get(variable, default))

    def http_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.http_port(service)}"


class LocalStack:
    def __init__(self, addresses: StackAddresses, log_dir: Path, replicas: int = 1) -> None:
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self.addresses = addresses
        self.processes = ProcessGroup(log_dir)
        self.replicas = replicas
        self.started_infrastructure: list[str] = []
        # A replica keeps its port across restarts, so its balancer finds it again.
        self.replica_ports: dict[str, int] = {}

    def start_infrastructure(self) -> None:
        """Start the broker, the database, the SMTP sink and the sandbox ad exchange, each
        unless something already answers at its address."""
        kafka_host, kafka_port = host_port(self.addresses.kafka, 9092)
        if not answers(kafka_host, kafka_port):
            self.processes.start_broker(kafka_host, kafka_port)
            self.started_infrastructure.append("kafka")
        mongo_host, mongo_port = host_port(self.addresses.mongodb, 27017)
        if not answers(mongo_host, mongo_port):
            self.processes.start_mongo(mongo_host, mongo_port)
            self.started_infrastructure.append("mongodb")
        smtp_host, smtp_port = host_port(self.addresses.smtp, 25)
        if not answers(smtp_host, smtp_port):
            directory = Path(self.addresses.env.get("SMTP_SINK_DIR", ".devstack/mail"))
            self.processes.start_smtp_sink(
                smtp_host, smtp_port, self.addresses.mail_http_port, directory
            )
            self.started_infrastructure.append("smtp")
        ads_host, ads_port = host_port(self.addresses.ad_platform, 8030)
        if not answers(ads_host, ads_port):
            token = self.addresses.env.get("LAUNCHER_AD_PLATFORM_TOKEN")
            self.processes.start_ad_exchange(ads_host, ads_port, token)
            self.started_infrastructure.append("ad-exchange")
        asyncio.run(ensure_topics(self.addresses.kafka))

    def service_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.addresses.env.items() if isinstance(v, str)}
        env.setdefault("KAFKA_BOOTSTRAP_SERVERS", self.addresses.kafka)
        env.setdefault("MONGODB_URL", self.addresses.mongodb)
        env.setdefault("LOG_FORMAT", "text")
        # Local storefronts (the demo's shoppers) reach the payment API from this machine
        # and forward each shopper's address, as a reverse proxy would.
        env.setdefault("PAYMENT_TRUSTED_PROXIES", "127.0.0.1,::1")
        return env

    def replicas_of(self, service: str) -> list[str]:
        """The process names of ``service``'s replicas: its own name when it runs alone."""
        if self.replicas == 1:
            return [service]
        return [f"{service}-{index}" for index in range(1, self.replicas + 1)]

    def start_services(self, names: tuple[str, ...] = SERVICES) -> None:
        for name in names:
            for replica in self.replicas_of(name):
                self.start_replica(name, replica)
            if self.replicas > 1:
                ports = [self.replica_ports[replica] for replica in self.replicas_of(name)]
                port = self.addresses.http_port(name)
                self.processes.start_balancer(f"{name}-balancer", port, ports)

    def start_replica(self, service: str, replica: str) -> None:
        """Start ``replica`` of ``service``, or start it again after ``kill_replica``."""
        env = self.service_env()
        if replica != service:
            variable, _ = HTTP_PORTS[service]
            port = self.replica_ports.setdefault(replica, free_port())
            env |= {variable: str(port), "INSTANCE_ID": replica}
        self.processes.start_service(service, env, process=replica)

    def kill_replica(self, replica: str) -> None:
        """SIGKILL one replica; its balancer sends new connections to the others."""
        self.processes.kill(replica)

    def replica_url(self, service: str, replica: str) -> str:
        """One replica's own HTTP address, past the balancer."""
        port = self.replica_ports.get(replica, self.addresses.http_port(service))
        return f"http://127.0.0.1:{port}"

    def ready(self, service: str) -> bool:
        """Every replica of ``service`` answers ready."""
        return all(
            self._answers_ready(self.replica_url(service, replica))
            for replica in self.replicas_of(service)
        )

    @staticmethod
    def _answers_ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own loopback URL
                f"{url}/health/ready", timeout=1
            ) as response:
                return bool(json.load(response)) and response.status == 200
        except OSError:
            return False

    def wait_ready(self, names: tuple[str, ...] = SERVICES, timeout: float = 90) -> None:
        processes = {replica for name in names for replica in self.replicas_of(name)}

        def all_ready() -> bool:
            if exited := {n: c for n, c in self.processes.exited().items() if n in processes}:
                raise RuntimeError(f"service(s) exited during start-up: {exited}; see logs")
            return all(self.ready(n) for n in names)

        wait_until(all_ready, timeout, "the services")

    def stop(self) -> None:
        """Services first, while the broker and database they flush to on SIGTERM are up."""
        replicas = [replica for name in SERVICES for replica in self.replicas_of(name)]
        self.processes.stop([name for name in replicas if name in self.processes.processes])
        self.processes.stop()
