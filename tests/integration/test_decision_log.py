"""The decision log against the real database, and its HTTP listing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import uvicorn
from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from typer.testing import CliRunner

from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.decisions import DecisionLog, decision_routes
from shared.ai.provider import Prompt, Usage
from shared.ai.runner import AiStep, Decision, run_step
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import ApiKey, Scope
from shared.cli.app import app as campaignctl
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY
from shared.storage.mongo import Document, connect, service_database
from shared.storage.unit_of_work import Transaction, UnitOfWork
from tests.support.factories import campaign_id
from tests.support.infrastructure import free_port
from tests.support.services import REPORTS_AUTH

# What the planner, segmenter and content accept in local mode.
REPORTING_KEYS = ApiKeys(
    [ApiKey.of("ANALYTICS_API_KEY", DEV_ONLY_ANALYTICS_API_KEY, [Scope.REPORTS_READ])]
)


class Split(BaseModel):
    email: Decimal
    web: Decimal
    rationale: str


class Budget(BaseModel):
    amount: Decimal


SPLIT = AiStep(
    name="allocate",
    output=Split,
    template_version="split-v1",
    prompt=lambda budget: Prompt("Split the budget.", f"Budget {budget.amount}", "split-v1"),
    offline=lambda budget: Split(email=budget.amount / 2, web=budget.amount / 2, rationale="even"),
)


class Decided(Transaction):
    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str):
        super().__init__(db, session, source)
        self.decisions = DecisionLog(db, session)


@pytest.fixture(scope="module")
async def store(infra) -> AsyncIterator[tuple[DecisionLog, UnitOfWork[Decided]]]:
    client = connect(infra.mongodb, app_name="test-decisions")
    db = service_database(client, "decisions_test", infra.db_prefix)
    log = DecisionLog(db)
    await log.ensure_indexes()
    yield log, UnitOfWork(client, db, source="/tests/decisions", transaction=Decided)
    await client.close()


async def offline_decision(amount: str) -> Decision[Split]:
    return await run_step(
        SPLIT, Budget(amount=Decimal(amount)), model=None, prices=PriceTable({}), budget_seconds=1
    )


async def test_decision_is_stored_with_engine_inputs_output_and_cost(store):
    log, uow = store
    cid = campaign_id()
    decision = await offline_decision("100.00")
    priced = Decision(
        decision.output,
        "openai:gpt-4.1",
        "split-v1",
        decision.input_hash,
        model="gpt-4.1",
        usage=Usage(1000, 500),
        cost=PriceTable(DEFAULT_PRICES).cost("gpt-4.1", Usage(1000, 500)),
        attempts=1,
    )

    async with uow as tx:
        await tx.decisions.record(cid, "allocate", priced)
    [stored] = await log.for_campaign(cid)
    assert stored["engine"] == "openai:gpt-4.1"
    assert stored["model"] == "gpt-4.1"
    assert stored["step"] == "allocate"
    assert stored["template_version"] == "split-v1"
    assert stored["input_hash"] == decision.input_hash
    assert stored["output"] == {"email": "50.00", "web": "50.00", "rationale": "even"}
    assert (stored["input_tokens"], stored["output_tokens"]) == (1000, 500)
    assert stored["cost_usd"] == "0.006"


async def test_a_decision_rolls_back_with_the_work_it_belongs_to(store):
    log, uow = store
    cid = campaign_id()
    decision = await offline_decision("10")

    async def failing() -> None:
        async with uow as tx:
            await tx.decisions.record(cid, "allocate", decision)
            raise RuntimeError("the work failed after the decision")

    with pytest.raises(RuntimeError):
        await failing()
    assert await log.for_campaign(cid) == []


async def test_offline_engine_reproduces_the_same_decision_for_the_same_inputs():
    first, again = await offline_decision("80.00"), await offline_decision("80.00")
    assert (first.engine, first.input_hash, first.output) == (
        again.engine,
        again.input_hash,
        again.output,
    )
    assert first.input_hash != (await offline_decision("80.01")).input_hash


async def test_decisions_are_listed_over_http_oldest_first(store):
    log, uow = store
    cid = campaign_id()
    for amount in ("1", "2"):
        decision = await offline_decision(amount)
        async with uow as tx:
            await tx.decisions.record(cid, "allocate", decision)
    app = Starlette(routes=decision_routes(log, REPORTING_KEYS))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://planner") as client:
        refused = await client.get(f"/v1/campaigns/{cid}/decisions")
        response = await client.get(f"/v1/campaigns/{cid}/decisions", headers=REPORTS_AUTH)
    assert refused.status_code == 401
    assert response.status_code == 200
    body = response.json()
    assert body["campaign_id"] == cid
    assert [d["output"]["email"] for d in body["decisions"]] == ["0.5", "1"]
    assert all(d["engine"] == "offline" for d in body["decisions"])


async def test_campaignctl_decisions_shows_each_services_log_and_names_the_silent_ones(store):
    log, uow = store
    cid = campaign_id()
    decision = await offline_decision("42")
    async with uow as tx:
        await tx.decisions.record(cid, "allocate", decision)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=decision_routes(log, REPORTING_KEYS)), port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    env = {
        "PLANNER_HEALTH_PORT": str(port),
        "SEGMENTER_HEALTH_PORT": str(free_port()),
        "CONTENT_HEALTH_PORT": str(free_port()),
        "LAUNCHER_API_PORT": str(free_port()),
    }
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, campaignctl, ["decisions", cid], env=env
        )
    finally:
        server.should_exit = True
        await serving
    assert result.exit_code == 0, result.output
    assert "allocate" in result.output
    assert "offline" in result.output
    assert decision.input_hash[:12] in result.output
    assert "segmenter: no decision log" in result.output
    assert "content: no decision log" in result.output
    assert "launcher: no decision log" in result.output
