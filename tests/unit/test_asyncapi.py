"""The AsyncAPI documents describe the real contracts, generated from the services themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.asyncapi import write_documents
from shared.events.campaigns import CampaignRequested


def planner_document(tmp_path: Path) -> dict[str, Any]:
    [path] = write_documents(tmp_path, ("planner",))
    assert path == tmp_path / "planner.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def addresses(document: dict[str, Any], action: str) -> set[str]:
    """Topics of the operations that ``receive`` or ``send``."""
    channels = document["channels"]
    return {
        channels[operation["channel"]["$ref"].removeprefix("#/channels/")]["address"]
        for operation in document["operations"].values()
        if operation["action"] == action
    }


def test_planner_document_receives_requests_and_sends_plans(tmp_path: Path) -> None:
    document = planner_document(tmp_path)

    assert document["asyncapi"] == "3.0.0"
    assert "campaign.requested" in addresses(document, "receive")
    assert {"campaign.planned", "campaign.rejected"} <= addresses(document, "send")


def test_planner_document_carries_the_request_field_descriptions(tmp_path: Path) -> None:
    schemas = planner_document(tmp_path)["components"]["schemas"]

    properties = schemas["CampaignRequested"]["properties"]
    for name, field in CampaignRequested.model_fields.items():
        if field.description:
            assert properties[name]["description"] == field.description, name
    assert "campaign_id" in schemas["CampaignPlanned"]["required"]


def test_committed_documents_match_the_contracts(tmp_path: Path) -> None:
    """docs/asyncapi is what consumers read: regenerate it (make asyncapi) with any change."""
    committed = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"
    for path in write_documents(tmp_path):
        assert path.read_text() == (committed / path.name).read_text(), (
            f"docs/asyncapi/{path.name} is out of date: run make asyncapi"
        )
