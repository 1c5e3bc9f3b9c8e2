"""The whole product as ``make up`` runs it, with what the faults need to reach in.

The database is mongoeco on its SQLite engine in a file, so a restart keeps the data; the
services reach it through a TCP proxy that can delay every byte; the payment service's
processor is the local Stripe fake, whose next answers can be scripted to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.processes import SERVICES
from shared.devstack.stack import HTTP_PORTS, LocalStack, StackAddresses
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe, fake_stripe_server
from tests.support.infrastructure import free_port
from tests.support.tcp_proxy import TcpProxy

HOST = "127.0.0.1"


@dataclass
class FaultStack:
    stack: LocalStack
    proxy: TcpProxy
    stripe: FakeStripe
    mongo_port: int
    database_file: Path | None

    @property
    def kafka(self) -> str:
        return self.stack.addresses.kafka

    def payment_url(self) -> str:
        return self.stack.addresses.http_url("payment")

    def start_database(self) -> None:
        self.stack.processes.start_mongo(HOST, self.mongo_port, path=self.database_file)

    def restart(self, service: str) -> None:
        """Start ``service`` again (from the main thread: see ``ProcessGroup``)."""
        self.stack.processes.start_service(service, self.stack.service_env())

    async def wait_ready(self, *services: str) -> None:
        await asyncio.to_thread(self.stack.wait_ready, services or SERVICES, 120)


def service_env(
    kafka_port: int, proxy: TcpProxy, stripe: FakeStripe, workdir: Path
) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{kafka_port}",
        "MONGODB_URL": f"mongodb://{HOST}:{proxy.port}",
        "MONGODB_DB_PREFIX": "faults_",
        "LOG_FORMAT": "text",
        "HEALTH_HOST": HOST,
        "LAUNCHER_SMTP_URL": f"smtp://{HOST}:{free_port()}",
        "SMTP_SINK_HTTP_PORT": str(free_port()),
        "SMTP_SINK_DIR": str(workdir / "mail"),
        "LAUNCHER_AD_PLATFORM_URL": f"http://{HOST}:{free_port()}",
        "STRIPE_API_KEY": FAKE_API_KEY,
        "STRIPE_API_BASE_URL": stripe.base_url,
        # Storefront clicks no launcher made: nothing to wait for before crediting a sale.
        "ANALYTICS_CLICK_GRACE_SECONDS": "0",
        # Every payment of the burst is one of a few test customers': no risk review.
        "PAYMENT_RISK_REVIEW_THRESHOLD": "1",
        "PAYMENT_RISK_BLOCK_THRESHOLD": "1",
        # The storefront's proxy on loopback forwards each customer's address (see burst.py).
        "PAYMENT_TRUSTED_PROXIES": HOST,
        # An interrupted call is settled by reconciliation within seconds, not minutes.
        "PAYMENT_PROCESSOR_TIMEOUT_SECONDS": "2",
        "PAYMENT_LEASE_SECONDS": "3",
        "PAYMENT_RECONCILIATION_INTERVAL_SECONDS": "1",
        "PAYMENT_RECONCILIATION_AFTER_SECONDS": "2",
        "OUTBOX_LEASE_SECONDS": "3",
        "OUTBOX_LEASE_RENEW_SECONDS": "1",
    }
    return env | {variable: str(free_port()) for variable, _ in HTTP_PORTS.values()}


@contextlib.contextmanager
def proxy_in_thread(target_port: int) -> Iterator[TcpProxy]:
    """The proxy on a loop of its own, so that it serves while the main thread blocks
    (starting processes, waiting for them)."""
    loop = asyncio.new_event_loop()
    proxy = TcpProxy(HOST, target_port)
    loop.run_until_complete(proxy.start())
    thread = threading.Thread(target=loop.run_forever, name="database-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def fault_stack(workdir: Path, *, persistent: bool = True) -> Iterator[FaultStack]:
    """Broker, database, SMTP sink, ad exchange and the six services, all stopped after.
    ``persistent``: the database on the SQLite engine in a file, else in memory."""
    kafka_port, mongo_port = free_port(), free_port()
    with fake_stripe_server() as stripe, proxy_in_thread(mongo_port) as proxy:
        env = service_env(kafka_port, proxy, stripe, workdir)
        local = LocalStack(StackAddresses.from_env(env), workdir / "logs")
        database_file = workdir / "database.sqlite" if persistent else None
        stack = FaultStack(local, proxy, stripe, mongo_port, database_file)
        try:
            stack.start_database()
            # The proxy already answers at the database's address: the stack leaves it be.
            local.start_infrastructure()
            local.start_services()
            local.wait_ready(timeout=120)
            yield stack
        finally:
            local.stop()
