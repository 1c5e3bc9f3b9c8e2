"""campaignctl without a broker: the demo's customer base, and what it refuses to send."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from rich.console import Console
from typer.testing import CliRunner

from shared.cli.app import app
from shared.cli.customer_base import generate_customer_base, group_sizes
from shared.cli.customer_import import customer_lines, read_customers
from shared.cli.report_view import render_report
from shared.cli.settings import CliSettings
from shared.cli.shopper import ShopperClick, plan_purchases
from shared.cli.timeline import payment, payment_answer, summary
from shared.events.common import Channel
from shared.events.customers import CustomerUpserted
from shared.events.optimisation import CampaignEvaluated, CampaignReallocated, ExperimentVerdict
from shared.events.topics import CAMPAIGN_AUDIENCE, CAMPAIGN_EVALUATED, CAMPAIGN_REALLOCATED
from shared.money import Money
from tests.support.factories import campaign_request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


def observed_group(customer: CustomerUpserted) -> str:
    """The group a customer's features alone put them in."""
    if customer.last_purchase_at is None:
        return "prospect"
    days = (NOW - customer.last_purchase_at) / timedelta(days=1)
    if days <= 31:
        return "high_value"
    return "regular" if days <= 151 else "lapsed"


def test_customer_base_features_form_the_planted_groups():
    customers = generate_customer_base(3000, now=NOW)
    by_group: dict[str, list[CustomerUpserted]] = {}
    for customer in customers:
        by_group.setdefault(observed_group(customer), []).append(customer)

    assert {group: len(members) for group, members in by_group.items()} == group_sizes(3000)
    spend = {g: [c.total_spent.amount for c in members] for g, members in by_group.items()}
    assert min(spend["high_value"]) > max(spend["regular"] + spend["lapsed"])
    assert set(spend["prospect"]) == {Decimal("0.00")}
    assert all(c.orders_count == 0 for c in by_group["prospect"])
    assert all(c.orders_count >= 6 for c in by_group["high_value"])
    assert len({c.customer_id for c in customers}) == 3000


def test_customer_base_is_the_same_for_the_same_seed():
    assert generate_customer_base(200, now=NOW) == generate_customer_base(200, now=NOW)
    assert generate_customer_base(200, now=NOW) != generate_customer_base(200, seed=1, now=NOW)


def test_generated_customers_survive_the_import_file_round_trip():
    customers = generate_customer_base(50, now=NOW)
    parsed = read_customers(customer_lines(customers).splitlines())
    assert parsed.bad_lines == []
    assert parsed.customers == customers


def test_import_reports_every_bad_line_by_number_and_field_and_exits_non_zero(tmp_path):
    good = json.loads(customer_lines(generate_customer_base(1, now=NOW)))
    lines = [
        good | {"email": "not-an-email"},
        "{not json",
        good | {"total_spent": {"amount": 12.5, "currency": "USD"}, "country": "usa"},
        [1, 2],
    ]
    path = tmp_path / "customers.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n")

    result = runner.invoke(app, ["customers", "import", str(path)])

    assert result.exit_code == 1
    assert f"{path}:1: email" in result.stderr
    assert f"{path}:2: (line): not valid JSON" in result.stderr
    assert f"{path}:3: country" in result.stderr
    assert f"{path}:3: total_spent.amount" in result.stderr
    assert f"{path}:4: (message)" in result.stderr
    assert "skipped 4 bad line(s)" in result.stdout


def test_invalid_request_names_each_field_sends_nothing_and_exits_2():
    result = runner.invoke(
        app,
        ["request", "--campaign-id", "spring sale", "--budget", "-1", "--channels", "email,fax"],
    )

    assert result.exit_code == 2
    for field in ("campaign_id", "name", "budget", "channels.1", "product.sku", "product.price"):
        assert f"  {field}: " in result.stderr
    assert "nothing was sent" in result.stderr


def test_request_file_with_a_price_in_another_currency_exits_2(tmp_path):
    request = campaign_request(
        product={"sku": "S", "name": "N", "price": {"amount": "9.99", "currency": "EUR"}}
    )
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))

    result = runner.invoke(app, ["request", "--file", str(path)])

    assert result.exit_code == 2
    assert "product: price must be in the budget's currency (USD)" in result.stderr


def test_request_file_that_is_not_json_exits_2(tmp_path):
    path = tmp_path / "request.json"
    path.write_text("campaign_id: x")

    result = runner.invoke(app, ["request", "--file", str(path)])

    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_dlq_replay_wants_one_letter_or_all_and_says_so():
    for options in ([], ["--partition", "0"], ["--offset", "3"], ["--all", "--offset", "3"]):
        result = runner.invoke(app, ["dlq", "replay", "orders.dlq", *options])

        assert result.exit_code == 2, options
        assert "give --partition and --offset for one letter, or --all" in result.stderr


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def rendered(report: dict[str, object]) -> str:
    console = Console(record=True, width=200)
    render_report(report, console)
    return console.export_text()


def test_report_shows_plan_payments_and_totals_with_the_decline_reason():
    payment = {
        "payment_id": "pay_1",
        "customer_id": "customer_00001",
        "payment_method": "credit_card",
        "processor": "stripe",
        "amount": usd("149.99"),
        "fee": usd("4.65"),
        "net": usd("145.34"),
        "status": "completed",
        "attribution": {"segment_id": "high_value", "channel": "email", "variant_id": "v"},
    }
    declined = payment | {
        "payment_id": "pay_2", "fee": None, "net": None,
        "status": "failed", "failure_reason": "card_declined",
    }  # fmt: skip
    report = {
        "campaign_id": "c-1",
        "name": "Spring sale",
        "budget": usd("50000.00"),
        "allocation": {"email": usd("20000.00"), "web": usd("30000.00")},
        "reach": {"channels": {"email": 1200, "web": 3400}, "total": 4600},
        "segments": [{"segment_id": "high_value", "size": 360, "predicted_conversion_rate": 0.3}],
        "payments": [payment, declined],
        "totals": {
            "gross": usd("149.99"),
            "fees": usd("4.65"),
            "net": usd("145.34"),
            "payments_completed": 1,
            "payments_failed": 1,
            "success_rate": 0.5,
            "processor_mix": [{"processor": "stripe", "count": 1, "gross": usd("149.99")}],
        },
    }
    text = rendered(report)
    assert "Campaign c-1 — Spring sale" in text
    assert "50,000.00 USD" in text
    assert "4,600" in text
    assert "email · high_value" in text
    assert "failed (card_declined)" in text
    assert "1 completed, 1 failed" in text
    assert "50.0%" in text


def test_report_shows_payments_in_other_currencies_beside_the_totals():
    euros = {"amount": "100.00", "currency": "EUR"}
    other = {
        "currency": "EUR",
        "gross": euros,
        "fees": {"amount": "3.20", "currency": "EUR"},
        "net": {"amount": "96.80", "currency": "EUR"},
        "payments_completed": 1,
        "refunded": {"amount": "0.00", "currency": "EUR"},
    }
    text = rendered({"campaign_id": "c-1", "payments": [], "other_currencies": [other]})
    assert "Other currencies" in text
    assert "96.80 EUR" in text


def credit(**by_model: str) -> dict[str, object]:
    models = ("last_touch", "first_touch", "linear", "time_decay", "position_based", "markov")
    return {model: usd(by_model.get(model, "0.00")) for model in models}


def breakdown_row(key: str, **figures: object) -> dict[str, object]:
    row: dict[str, object] = {
        "key": key, "recipients": 0, "impressions": 0, "clicks": 0, "conversions": 0,
        "conversion_rate": None, "gross": usd("0.00"), "fees": usd("0.00"),
        "net": usd("0.00"), "spend": usd("0.00"), "roi": None,
    }  # fmt: skip
    return row | figures


def test_report_shows_the_funnel_breakdowns_models_side_by_side_and_the_lift():
    email = breakdown_row(
        "email", recipients=600, clicks=40, conversions=12, conversion_rate=0.02,
        net=usd("1745.34"), spend=usd("200.00"), roi=7.7267,
    )  # fmt: skip
    social = breakdown_row("social", impressions=90000, clicks=96, conversions=3)
    report = {
        "campaign_id": "c-1",
        "payments": [],
        "funnel": [
            {"channel": "email", "emailed": 600, "delivered": 588, "clicked": 40, "paid": 12},
            {"channel": "social", "impressions": 90000, "clicked": 96, "paid": 3},
        ],
        "breakdowns": {
            "channels": [email, social],
            "segments": [breakdown_row("high_value")],
            "variants": [breakdown_row("high_value-email-a")],
            "unattributed": {
                "payments": 2,
                "gross": usd("99.98"),
                "fees": usd("3.10"),
                "net": usd("96.88"),
            },
        },
        "attribution_models": {
            "attributed_net": usd("2181.67"),
            "conversions": 15,
            "channels": [
                {"key": "email"} | credit(last_touch="1745.34", markov="1600.00"),
                {"key": "social"} | credit(last_touch="436.33", markov="581.67"),
            ],
            "variants": [],
        },
        "lift": {
            "treated": {"people": 600, "converted": 12, "conversion_rate": 0.02},
            "held_out": {"people": 32, "converted": 0, "conversion_rate": 0.0},
            "absolute_lift": 0.02,
            "absolute_interval": {"low": -0.0884, "high": 0.0334},
            "relative_lift": None,
            "relative_interval": None,
            "confidence": 0.95,
        },
        "processors": [
            {
                "processor": "stripe",
                "completed": 14,
                "failed": 1,
                "success_rate": 0.9333,
                "fees": usd("65.10"),
                "mean_latency_seconds": 0.412,
            }
        ],
    }

    text = rendered(report)

    assert "Funnel: sent → delivered → clicked → paid" in text
    assert "90,000" in text  # social's impressions
    assert "2.00%" in text  # email's conversion rate
    assert "organic (unattributed)" in text
    assert "96.88" in text
    assert "Markov" in text
    assert "1,600.00" in text
    assert "Lift +2.0 pts, 95% interval -8.8 pts to +3.3 pts" in text
    assert "0.41 s" in text
    assert "93.3%" in text


def test_report_of_a_campaign_not_yet_planned_renders_with_gaps_marked():
    text = rendered({"campaign_id": "c-1", "name": None, "budget": None, "payments": []})
    assert "Campaign c-1" in text
    assert "—" in text


def test_demo_shoppers_pay_with_their_own_wallets_from_their_own_addresses():
    customers = generate_customer_base(60, seed=3, now=NOW)
    clicks = [ShopperClick(f"clk_{n}", customers[n].customer_id, "email") for n in range(9)]
    clicks += [ShopperClick(f"clk_ad_{n}", None, "ad") for n in range(4)]
    purchases = plan_purchases(customers, clicks, piece_price())

    wallets = [p.token for p in purchases if p.method.value in ("paypal", "bitcoin", "ethereum")]
    assert len(set(wallets)) == len(wallets), "a shared wallet token reads as velocity"
    assert all(p.customer_id in p.token for p in purchases if p.token in wallets)
    addresses = {p.client_ip for p in purchases}
    assert len(addresses) > len(purchases) // 2
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("203.0.113.0/24") for a in addresses)
    assert purchases[0].client_ip == plan_purchases(customers, clicks, piece_price())[0].client_ip


def test_demo_shoppers_pay_with_the_click_they_made_and_a_few_with_none():
    customers = generate_customer_base(60, seed=3, now=NOW)
    clicks = [ShopperClick(f"clk_{n}", customers[n].customer_id, "email") for n in range(9)]
    clicks += [ShopperClick(f"clk_ad_{n}", None, "ad") for n in range(4)]
    purchases = plan_purchases(customers, clicks, piece_price(), organic=2)

    assert [p.click_id for p in purchases[:13]] == [c.click_id for c in clicks]
    assert [p.customer_id for p in purchases[:9]] == [c.customer_id for c in clicks[:9]]
    assert [(p.click_id, p.came_from) for p in purchases[13:]] == [(None, "organic")] * 2
    assert len({p.customer_id for p in purchases}) == len(purchases)  # distinct buyers
    bodies = [p.body("c-1") for p in purchases]
    assert all("attribution" not in body for body in bodies)
    assert bodies[0]["click_id"] == "clk_0"
    assert "click_id" not in bodies[-1]


def piece_price() -> Money:
    return Money.of("149.99", "USD")


def test_timeline_shows_a_thin_payment_event_with_why_it_failed_was_held_or_refunded():
    failed = {
        "payment_id": "pay_1",
        "amount": {"amount": "149.99", "currency": "USD"},
        "payment_method": "credit_card",
        "processor": "stripe",
        "failure_reason": "card_declined",
    }
    held = failed | {"failure_reason": None, "risk_score": 0.62, "risk_signals": ["ip_velocity"]}
    refunded = failed | {
        "failure_reason": None,
        "refund_amount": {"amount": "50.00", "currency": "USD"},
    }

    assert payment(failed) == "pay_1 149.99 USD credit_card via stripe (card_declined)"
    assert payment(held).endswith("held for review: risk 0.62 (ip_velocity)")
    assert payment(refunded).endswith("refunded 50.00 USD")


def test_timeline_shows_an_api_answer_and_who_released_a_held_payment():
    approved = {
        "id": "pay_2",
        "amount": {"amount": "20.00", "currency": "EUR"},
        "payment_method": "paypal",
        "processor": "paypal",
        "status": "completed",
        "status_history": [{"actor": "risk"}, {"actor": "reviewer:ana"}],
    }

    assert payment_answer(approved) == "pay_2 20.00 EUR paypal via paypal, approved by ana"


def test_timeline_numbers_the_audience_chunks_from_one():
    chunk = {"campaign_id": "c-1", "chunk": 0, "chunks": 3, "members": [{}] * 1000}
    assert summary(CAMPAIGN_AUDIENCE, {"data": chunk}) == (
        "chunk 1 of 3: 1,000 members for the launcher"
    )


def test_timeline_shows_each_optimisation_cycle_s_verdicts_and_reallocation():
    usd = lambda amount: Money.of(amount, "USD")  # noqa: E731
    verdict = {
        "segment_id": "vip",
        "channel": Channel.EMAIL,
        "control": "a",
        "variants": [],
        "srm_p_value": 0.4,
        "sample_ratio_mismatch": False,
        "reason": "not yet",
        "weights": {"a": 0.25, "b": 0.75},
    }
    evaluated = CampaignEvaluated(
        campaign_id="c1",
        cycle=2,
        as_of=NOW,
        arms=[],
        experiments=[
            ExperimentVerdict(**verdict),
            ExperimentVerdict(**verdict | {"segment_id": "new", "winner": "b"}),
            ExperimentVerdict(**verdict | {"segment_id": "lapsed", "sample_ratio_mismatch": True}),
        ],
        channels=[],
    )
    reallocated = CampaignReallocated(
        campaign_id="c1",
        cycle=2,
        as_of=NOW,
        previous={Channel.EMAIL: usd("100.00"), Channel.SOCIAL: usd("300.00")},
        allocation={Channel.EMAIL: usd("150.00"), Channel.SOCIAL: usd("250.00")},
        spent={Channel.EMAIL: usd("50.00"), Channel.SOCIAL: usd("50.00")},
        remaining=usd("300.00"),
        reasons=[],
        rationale="",
    )

    def line(topic: str, event: BaseModel) -> str:
        return summary(topic, {"data": event.model_dump(mode="json")})

    assert line(CAMPAIGN_EVALUATED, evaluated) == (
        "cycle 2, the next wave's leaders: vip/email b 75.0%; new/email b (winner, all traffic); "
        "lapsed/email frozen (sample ratio mismatch)"
    )
    assert line(CAMPAIGN_REALLOCATED, reallocated) == (
        "cycle 2: email 100.00 USD -> 150.00 USD, social 300.00 USD -> 250.00 USD; "
        "remaining 300.00 USD"
    )


def test_report_shows_the_latest_verdicts_and_reallocation():
    uplift = {"mean": 0.3, "low": -0.05, "high": 0.65, "chance_to_win": 0.93,
              "risk_of_shipping": 0.004, "risk_of_keeping": 0.2}  # fmt: skip
    verdict = {
        "segment_id": "high_value", "channel": "email", "control": "a",
        "variants": [{"variant_id": "a"}, {"variant_id": "b", "conversion": uplift}],
        "srm_p_value": 0.4, "sample_ratio_mismatch": False, "winner": "b",
        "reason": "b: expected loss under 5.00% against all", "weights": {"a": 0.0, "b": 1.0},
    }  # fmt: skip
    frozen = verdict | {
        "segment_id": "at_risk", "winner": None, "sample_ratio_mismatch": True,
        "srm_p_value": 0.0002, "weights": {"a": 0.5, "b": 0.5},
    }  # fmt: skip
    reallocation = {
        "cycle": 2, "engine": "offline", "remaining": usd("45000.00"),
        "previous": {"email": usd("20000.00")}, "allocation": {"email": usd("24000.00")},
        "spent": {"email": usd("1000.00")}, "rationale": "Email returns more per dollar.",
    }  # fmt: skip
    section = {
        "cycles": 3,
        "latest": {"cycle": 2, "experiments": [verdict, frozen]},
        "weights_history": [],
        "reallocations": [reallocation],
        "adjustments": [],
    }
    text = rendered({"campaign_id": "c-1", "optimisation": section})
    assert "A/B verdicts (cycle 2, 3 so far)" in text
    assert "93.0%" in text  # b's chance to win
    assert "30.0% (-5.0% to 65.0%)" in text
    assert "winner" in text
    assert "SRM (p = 0.0002): frozen" in text
    assert "Latest reallocation (cycle 2, offline): 45,000.00 USD left" in text
    assert "24,000.00 USD" in text
    assert "Email returns more per dollar." in text


def test_decisions_are_read_from_analytics_too():
    assert CliSettings().decision_log_urls["analytics"] == CliSettings().analytics_url
