"""The Grafana dashboard and the Prometheus alert rules in ``deploy/``: well-formed, and
naming only metrics the services export, so neither can drift from the code."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from services.content.app import build as build_content
from services.content.settings import ContentSettings
from services.launcher.app import build as build_launcher
from services.launcher.settings import LauncherSettings
from services.payment.app import build as build_payment
from services.payment.settings import PaymentSettings
from services.planner.app import build as build_planner
from services.planner.settings import PlannerSettings
from services.segmenter.app import build as build_segmenter
from services.segmenter.settings import SegmenterSettings

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "campaign-operations.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPING = ROOT / "deploy" / "prometheus" / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"
README = ROOT / "README.md"
REQUIRED_ALERTS = {
    "ConsumerLagGrowing",
    "MessagesDeadLettered",
    "OutboxNotDraining",
    "ReconciliationStuck",
    "ProcessorErrorRateHigh",
    "PaymentLatencyP99High",
}
SERVICES: list[tuple[Any, type[Any]]] = [
    (build_planner, PlannerSettings),
    (build_segmenter, SegmenterSettings),
    (build_content, ContentSettings),
    (build_launcher, LauncherSettings),
    (build_payment, PaymentSettings),
    (build_analytics, AnalyticsSettings),
]
# What a PromQL expression holds besides metric names.
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
MATCHERS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NAME = re.compile(r"(?<![\w.])[a-zA-Z_:][\w:]*\b(?!\s*\()")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def metric_names(expr: str) -> set[str]:
    bare = GROUPING.sub(" ", MATCHERS.sub(" ", QUOTED.sub(" ", expr)))
    return {name for name in NAME.findall(bare) if name not in KEYWORDS}


@pytest.fixture(scope="module")
async def families() -> AsyncIterator[dict[str, str]]:
    """Every metric the six services export once built, and its type."""
    services = [build(settings()) for build, settings in SERVICES]
    try:
        yield {family.name: family.type for family in REGISTRY.collect()}
    finally:
        for service in services:
            await service.infra.mongo.close()


def series(family: str, kind: str) -> set[str]:
    """The names a metric's samples go by (a counter's ``_total``, a histogram's three)."""
    return {family + suffix for suffix in SUFFIXES.get(kind, ("",))}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def queries() -> list[tuple[str, str]]:
    """(where, expression) of every panel target and every alert."""
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    found = [(p["title"], t["expr"]) for p in panels for t in p["targets"]]
    return found + [(rule["alert"], rule["expr"]) for rule in alert_rules()]


def test_dashboard_is_a_grafana_model_whose_panels_each_query_prometheus() -> None:
    model = dashboard()
    assert {"uid", "title", "schemaVersion", "panels", "templating", "time"} <= model.keys()
    [source] = model["templating"]["list"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        assert {"type", "title", "gridPos"} <= panel.keys(), panel.get("title")
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["refId"], panel["title"]


def test_every_alert_rule_has_an_expression_a_duration_a_severity_and_annotations() -> None:
    loaded = yaml.safe_load(ALERTS.read_text())
    assert all({"name", "rules"} <= group.keys() for group in loaded["groups"])
    rules = alert_rules()
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS


def test_dashboard_and_alerts_query_only_metrics_the_services_export(
    families: dict[str, str],
) -> None:
    exported = {name for family, kind in families.items() for name in series(family, kind)}
    unknown = {
        where: sorted(metric_names(expr) - exported)
        for where, expr in queries()
        if metric_names(expr) - exported
    }
    assert unknown == {}
    assert all(metric_names(expr) for _, expr in queries())


def test_every_product_metric_has_a_panel_and_a_line_in_the_readme(
    families: dict[str, str],
) -> None:
    queried = {name for _, expr in queries() for name in metric_names(expr)}
    readme = README.read_text()
    product = {name: kind for name, kind in families.items() if name.startswith("campaign_")}
    assert len(product) >= 10
    for family, kind in product.items():
        assert series(family, kind) & queried, f"{family}: no panel or alert"
        assert f"`{family}" in readme, f"{family}: not in the README's Metrics section"


def test_prometheus_scrapes_every_compose_service_on_its_port_and_loads_the_rules() -> None:
    config = yaml.safe_load(SCRAPING.read_text())
    assert config["rule_files"] == [ALERTS.name]
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [static] = job["static_configs"]
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    ours = {name for name, spec in compose.items() if "services." in str(spec.get("command"))}
    ports = {
        f"{name}:{port}"
        for name in ours
        for variable, port in compose[name]["environment"].items()
        if variable.endswith("_PORT")
    }
    assert len(ours) == len(SERVICES)
    assert set(static["targets"]) == ports


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (processor) (rate(a_total{outcome!="answered", x="b_c"}[5m])) '
        "/ ignoring(le) histogram_quantile(0.99, sum by (le) (rate(b_bucket[5m]))) "
        "> 0.1 and time() - max(c_seconds) > 900"
    )
    assert metric_names(expr) == {"a_total", "b_bucket", "c_seconds"}
