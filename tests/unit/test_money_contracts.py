"""Every amount in every contract refuses a JSON float, and the error names the field.

One row per contract: its name (a topic, or an API route and body), its model, and a valid
example from the factories with every optional amount filled in. Each path to a ``Money``
amount or a decimal field in the example gets a float instead, and validation must refuse
exactly that field. A row's example must reach every amount its model declares, so a new
money field is tested the day it is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from services.payment.domain.requests import CreatePayment, RefundRequest
from shared.events import topics
from shared.events.campaigns import (
    CampaignAudience,
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPerformance,
    CampaignPlanned,
    CampaignRejected,
    CampaignRequested,
    CampaignSegmented,
)
from shared.events.common import field_errors
from shared.events.customers import CustomerUnsubscribed, CustomerUpserted
from shared.events.engagement import AdsReported, HeldOut, LinkClicked, MessageBounced, MessageSent
from shared.events.optimisation import AdSetAdjusted, CampaignEvaluated, CampaignReallocated
from shared.events.payments import (
    PaymentCompleted,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentReviewRequired,
)
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money
from tests.support.factories import (
    ads_reported,
    campaign_content_generated,
    campaign_launched_with_ads,
    campaign_performance,
    campaign_planned,
    campaign_request,
    campaign_segmented,
    customer,
    link_clicked,
    message_sent,
    money,
    payment_completed,
    payment_failed,
    payment_initiated,
    payment_refunded,
    payment_request,
    payment_review_required,
    revenue_recorded,
    revenue_reversed,
    usd,
)

type Path = tuple[str | int, ...]

NOW = "2026-03-01T09:00:00+00:00"


@dataclass(frozen=True)
class ContractRow:
    name: str
    model: type[BaseModel]
    example: Callable[[], dict[str, Any]]


def planned_with_every_amount() -> dict[str, Any]:
    return campaign_planned(
        predicted_revenue_interval={"low": money("48000.00"), "high": money("75000.00")},
        predicted_revenue_by_channel={"email": money("30000.00"), "web": money("31234.50")},
        ai_cost="0.0124",
    )


def rejected() -> dict[str, Any]:
    return {
        "campaign_id": "spring",
        "errors": [{"field": "budget.amount", "message": "must be greater than 0"}],
    }


def evaluated() -> dict[str, Any]:
    arm = {"segment_id": "high_value", "channel": "email", "exposures": 400, "conversions": 9}
    return {
        "campaign_id": "spring",
        "cycle": 0,
        "as_of": NOW,
        "arms": [arm | {"variant_id": "high_value-email-a", "net": money("1304.91")}],
        "experiments": [],
        "channels": [
            {
                "channel": "email",
                "spend": money("20000.00"),
                "net": money("1304.91"),
                "conversions": 9,
                "clicks": 31,
            }
        ],
    }


def reallocated() -> dict[str, Any]:
    return {
        "campaign_id": "spring",
        "cycle": 0,
        "as_of": NOW,
        "previous": {"email": money("20000.00"), "social": money("30000.00")},
        "allocation": {"email": money("20000.00"), "social": money("28000.00")},
        "spent": {"email": money("20000.00"), "social": money("4000.00")},
        "remaining": money("26000.00"),
        "reasons": ["social returns 0.40 per unit of spend at the margin"],
        "rationale": "Social earns little at the margin.",
        "engine": "offline",
        "ai_cost": "0",
    }


def adjusted() -> dict[str, Any]:
    return {
        "campaign_id": "spring",
        "ad_set_id": "as_1",
        "channel": "social",
        "segment_id": "high_value",
        "variant_id": "high_value-social-a",
        "bid_before": money("9.00"),
        "bid": money("8.10"),
        "budget_before": money("5000.00"),
        "budget": money("4600.00"),
        "controller": "target_cpa",
        "reason": "cost per acquisition 11.00 over the 10.00 target",
        "at": NOW,
    }


CONTRACTS = [
    ContractRow(topics.CUSTOMER_UPSERTED, CustomerUpserted, customer),
    ContractRow(topics.CAMPAIGN_REQUESTED, CampaignRequested, campaign_request),
    ContractRow(topics.CAMPAIGN_REJECTED, CampaignRejected, rejected),
    ContractRow(topics.CAMPAIGN_PLANNED, CampaignPlanned, planned_with_every_amount),
    ContractRow(
        topics.CAMPAIGN_SEGMENTED, CampaignSegmented, lambda: campaign_segmented(ai_cost="0.0031")
    ),
    ContractRow(
        topics.CAMPAIGN_CONTENT_GENERATED,
        CampaignContentGenerated,
        lambda: campaign_content_generated(ai_cost="0.0057"),
    ),
    ContractRow(topics.CAMPAIGN_LAUNCHED, CampaignLaunched, campaign_launched_with_ads),
    ContractRow(
        topics.CAMPAIGN_AUDIENCE,
        CampaignAudience,
        lambda: {
            "campaign_id": "spring",
            "chunk": 0,
            "chunks": 1,
            "members": [{"customer_id": "customer_1", "segment_id": "high_value"}],
        },
    ),
    ContractRow(
        topics.CUSTOMER_UNSUBSCRIBED,
        CustomerUnsubscribed,
        lambda: {"customer_id": "customer_1", "source": "one_click", "at": NOW},
    ),
    ContractRow(topics.ENGAGEMENT_SENT, MessageSent, message_sent),
    ContractRow(
        topics.ENGAGEMENT_BOUNCED,
        MessageBounced,
        lambda: {
            "campaign_id": "spring",
            "customer_id": "customer_1",
            "kind": "hard",
            "reason": "550 5.1.1 mailbox unavailable",
            "at": NOW,
        },
    ),
    ContractRow(topics.ENGAGEMENT_CLICKED, LinkClicked, link_clicked),
    ContractRow(
        topics.ENGAGEMENT_HELD_OUT,
        HeldOut,
        lambda: {
            "campaign_id": "spring",
            "customer_id": "customer_1",
            "segment_id": "high_value",
            "at": NOW,
        },
    ),
    ContractRow(topics.ADS_REPORTED, AdsReported, lambda: ads_reported(bid=money("9.00"))),
    ContractRow(topics.CAMPAIGN_EVALUATED, CampaignEvaluated, evaluated),
    ContractRow(topics.CAMPAIGN_REALLOCATED, CampaignReallocated, reallocated),
    ContractRow(topics.ADS_ADJUSTED, AdSetAdjusted, adjusted),
    ContractRow(topics.PAYMENT_INITIATED, PaymentInitiated, payment_initiated),
    ContractRow(topics.PAYMENT_REVIEW_REQUIRED, PaymentReviewRequired, payment_review_required),
    ContractRow(topics.PAYMENT_COMPLETED, PaymentCompleted, payment_completed),
    ContractRow(topics.PAYMENT_FAILED, PaymentFailed, payment_failed),
    ContractRow(
        topics.PAYMENT_REFUNDED,
        PaymentRefunded,
        lambda: payment_refunded(payment_completed(), "50.00"),
    ),
    ContractRow(topics.REVENUE_RECORDED, RevenueRecorded, revenue_recorded),
    ContractRow(topics.REVENUE_REVERSED, RevenueReversed, revenue_reversed),
    ContractRow(topics.CAMPAIGN_PERFORMANCE, CampaignPerformance, campaign_performance),
    ContractRow("POST /v1/payments", CreatePayment, payment_request),
    ContractRow(
        "POST /v1/payments/{id}/refunds",
        RefundRequest,
        lambda: {"amount": usd("50.00"), "reason": "requested_by_customer"},
    ),
]


def amount_paths(model: BaseModel, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Each amount in ``model``: its path in the JSON, and the field that declares it."""
    for name, field in type(model).model_fields.items():
        declared = f"{type(model).__name__}.{name}"
        yield from _paths_in(getattr(model, name), (*path, field.alias or name), declared)


def _paths_in(value: Any, path: Path, declared: str) -> Iterator[tuple[Path, str]]:
    if isinstance(value, Money):
        yield (*path, "amount"), declared
    elif isinstance(value, Decimal):
        yield path, declared
    elif isinstance(value, BaseModel):
        yield from amount_paths(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_in(
                item, (*path, key.value if isinstance(key, Enum) else key), declared
            )
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _paths_in(item, (*path, index), declared)


def declared_amounts(model: type[BaseModel]) -> set[str]:
    """Every field of ``model``, or of a model inside it, whose type holds money or a decimal."""
    found = set()
    for name, field in model.model_fields.items():
        for kind in _types_in(field.annotation):
            if kind is Money or kind is Decimal:
                found.add(f"{model.__name__}.{name}")
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= declared_amounts(kind)
    return found


def _types_in(annotation: Any) -> Iterator[Any]:
    arguments = get_args(annotation)
    if not arguments:
        yield annotation
    for argument in arguments:
        yield from _types_in(argument)


def with_float_at(data: Any, path: Path) -> Any:
    """``data`` with the decimal string at ``path`` replaced by the float it spells."""
    copied = json.loads(json.dumps(data))
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = float(parent[path[-1]])
    return copied


def float_cases() -> list[Any]:
    cases = []
    for row in CONTRACTS:
        example = row.model.model_validate(row.example())
        for path, _ in amount_paths(example):
            dotted = ".".join(map(str, path))
            cases.append(pytest.param(row, path, id=f"{row.name}:{dotted}"))
    return cases


@pytest.mark.parametrize(("row", "path"), float_cases())
def test_a_float_for_an_amount_is_refused_naming_the_field(row: ContractRow, path: Path) -> None:
    sent = json.dumps(with_float_at(row.example(), path))

    with pytest.raises(ValidationError) as raised:
        row.model.model_validate_json(sent)

    [error] = field_errors(raised.value.errors())
    assert error.field == ".".join(map(str, path))
    assert "not a float" in error.message


@pytest.mark.parametrize("row", CONTRACTS, ids=lambda row: row.name)
def test_each_example_is_valid_and_fills_every_amount_its_contract_declares(
    row: ContractRow,
) -> None:
    example = row.model.model_validate_json(json.dumps(row.example()))

    reached = {declared for _, declared in amount_paths(example)}

    missing = declared_amounts(row.model) - reached
    assert not missing, f"{row.name}: fill {sorted(missing)} in the example to test them"


def test_every_topic_s_contract_has_a_row() -> None:
    assert set(topics.DOMAIN_TOPICS) <= {row.name for row in CONTRACTS}
