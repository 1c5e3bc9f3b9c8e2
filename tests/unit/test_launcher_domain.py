"""Launch rules: reach arithmetic and launching only when everything has arrived."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.launcher.domain import LaunchBrief, channel_reach, launch, paid_impressions
from services.launcher.settings import LauncherSettings
from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from shared.events.common import Channel
from tests.support.factories import campaign_planned, campaign_segmented, money

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CPM = {Channel.SOCIAL: Decimal("9"), Channel.WEB: Decimal("6")}


def planned(**overrides: object) -> CampaignPlanned:
    return CampaignPlanned.model_validate(campaign_planned("spring", **overrides))


def segmented() -> CampaignSegmented:
    return CampaignSegmented.model_validate(campaign_segmented("spring"))


def test_paid_impressions_are_spend_over_cpm_times_a_thousand_floored() -> None:
    assert paid_impressions(Decimal("17500.00"), Decimal("9")) == 1_944_444  # 1,944,444.4
    assert paid_impressions(Decimal("12500.00"), Decimal("6")) == 2_083_333  # 2,083,333.3
    assert paid_impressions(Decimal("0.01"), Decimal("9")) == 1  # 1.1
    assert paid_impressions(Decimal("0.00"), Decimal("9")) == 0


def test_email_reach_is_the_opted_in_members_of_every_segment() -> None:
    reach = channel_reach(planned(), segmented(), CPM)
    assert reach == {
        Channel.EMAIL: 800 + 500,
        Channel.SOCIAL: 1_944_444,
        Channel.WEB: 2_083_333,
    }


def test_only_requested_channels_have_reach() -> None:
    plan = planned(allocation={"social": money("50000.00")})
    assert channel_reach(plan, segmented(), CPM) == {Channel.SOCIAL: 5_555_555}


def test_launch_sums_the_channels_reach() -> None:
    brief = LaunchBrief(planned=planned(), segmented=segmented(), content_variants=12)
    launched = launch(brief, NOW, CPM)
    assert launched is not None
    assert launched.total_reach == 1300 + 1_944_444 + 2_083_333
    assert launched.launched_at == NOW


@pytest.mark.parametrize(
    "brief",
    [
        LaunchBrief(segmented=segmented(), content_variants=12),
        LaunchBrief(planned=planned(), content_variants=12),
        LaunchBrief(planned=planned(), segmented=segmented()),
    ],
    ids=["no-plan", "no-segments", "no-content"],
)
def test_nothing_launches_until_plan_segments_and_content_have_all_arrived(
    brief: LaunchBrief,
) -> None:
    assert launch(brief, NOW, CPM) is None


def test_cpm_settings_must_price_every_paid_channel_above_zero() -> None:
    with pytest.raises(ValidationError, match="needs a CPM for web"):
        LauncherSettings(launcher_cpm={"social": Decimal("9")})
    with pytest.raises(ValidationError, match="greater than 0"):
        LauncherSettings(launcher_cpm={"social": Decimal("9"), "web": Decimal("0")})
    with pytest.raises(ValidationError, match="unknown channel tv"):
        LauncherSettings(launcher_cpm={"social": 9, "web": 6, "tv": 20})
