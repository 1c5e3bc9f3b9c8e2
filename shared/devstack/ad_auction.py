"""The sandbox ad exchange's market: ad sets bidding in second-price auctions against
simulated competitors, second by simulated second.

Every simulated second each publisher platform (``facebook``, ``instagram``,
``audience_network``) offers its impression opportunities one by one. Each is an auction:
every active ad set placed on that platform bids its ``bid_amount``, and a few simulated
competitors bid amounts drawn uniformly from the platform's range; the highest bid wins
and pays ``max(second highest bid, floor)`` (bids under the floor do not take part). Bids
and floors are per thousand impressions in the account currency's minor units, so one
impression costs a thousandth of the clearing price, kept exactly as a Decimal.

Spend never exceeds a budget: an ad set whose next impression would take it past its
lifetime budget (or the day's, for a daily budget) does not serve it, and the auction is
run again without it. A served impression is clicked with the ad's click-through rate: the
platform's rate times a factor drawn from the ad's name, so variants differ, reproducibly.
One ``random.Random(seed)`` drives everything, so a seed replays a run exactly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PER_THOUSAND = Decimal(1000)
FIRST_ID = 120_210_000_000_000_000  # Meta's object ids are large decimal numbers


@dataclass(frozen=True)
class PlatformMarket:
    """One publisher platform's traffic and competition."""

    opportunities_per_second: int
    floor: int
    competitor_bids: tuple[int, int]
    competitors: int = 3
    click_through_rate: float = 0.01


DEFAULT_MARKETS: Mapping[str, PlatformMarket] = {
    "facebook": PlatformMarket(30, floor=150, competitor_bids=(200, 1200)),
    "instagram": PlatformMarket(20, floor=150, competitor_bids=(250, 1400)),
    "audience_network": PlatformMarket(
        50, floor=80, competitor_bids=(100, 900), click_through_rate=0.006
    ),
}


@dataclass(frozen=True)
class Click:
    click_id: str
    at: datetime
    landing_url: str
    ad_id: str


@dataclass
class Ad:
    id: str
    name: str
    adset_id: str
    landing_url: str
    click_through_rate: float
    status: str = "ACTIVE"


@dataclass
class AdSet:
    id: str
    account: str
    name: str
    campaign_id: str
    platforms: tuple[str, ...]
    bid: int
    budget_kind: str  # "daily" or "lifetime"
    budget: int
    status: str
    start: datetime | None
    end: datetime | None
    fields: dict[str, object] = field(default_factory=dict)
    impressions: int = 0
    spend: Decimal = Decimal(0)
    spend_by_day: dict[date, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    clicks: list[Click] = field(default_factory=list)
    ads: list[Ad] = field(default_factory=list)

    def serves(self, platform: str, at: datetime, floor: int) -> bool:
        return (
            self.status == "ACTIVE"
            and platform in self.platforms
            and self.bid >= floor
            and (self.start is None or self.start <= at)
            and (self.end is None or at < self.end)
            and any(ad.status == "ACTIVE" for ad in self.ads)
        )

    def affords(self, cost: Decimal, at: datetime) -> bool:
        spent = self.spend_by_day[at.date()] if self.budget_kind == "daily" else self.spend
        return spent + cost <= self.budget


@dataclass
class AdMarket:
    """Every ad set of the exchange and the simulated clock they are served on."""

    now: datetime
    seed: int = 0
    markets: Mapping[str, PlatformMarket] = field(default_factory=lambda: dict(DEFAULT_MARKETS))
    ad_sets: dict[str, AdSet] = field(default_factory=dict)
    ads: dict[str, Ad] = field(default_factory=dict)
    # Click ids are unique across runs, as a real platform's are, even when a seed replays
    # the auctions: whoever consumes the clicks keeps every id it has seen, so a restarted
    # exchange must never hand out an id of a run before. A replay gets its ids back only
    # with the same namespace as well as the same seed.
    click_namespace: bytes = field(default_factory=lambda: os.urandom(16))
    _ids: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - a seeded simulated market
        self._ids = itertools.count(FIRST_ID)

    def new_id(self) -> str:
        return str(next(self._ids))

    def add_ad(self, adset: AdSet, name: str, landing_url: str) -> Ad:
        platform_rate = max(self.markets[p].click_through_rate for p in adset.platforms)
        ad = Ad(self.new_id(), name, adset.id, landing_url, platform_rate * _ctr_factor(name))
        adset.ads.append(ad)
        self.ads[ad.id] = ad
        return ad

    def advance(self, seconds: int) -> None:
        """Run ``seconds`` of simulated traffic, every platform's auctions in each second."""
        for _ in range(seconds):
            for platform, market in self.markets.items():
                self._second_of(platform, market)
            self.now += timedelta(seconds=1)

    def _second_of(self, platform: str, market: PlatformMarket) -> None:
        cheapest = Decimal(market.floor) / PER_THOUSAND
        bidders = [
            a
            for a in self.ad_sets.values()
            if a.serves(platform, self.now, market.floor) and a.affords(cheapest, self.now)
        ]
        if not bidders:
            return
        step = timedelta(seconds=1) / market.opportunities_per_second
        for opportunity in range(market.opportunities_per_second):
            self._auction(market, bidders, self.now + step * opportunity)

    def _auction(self, market: PlatformMarket, bidders: list[AdSet], at: datetime) -> None:
        low, high = market.competitor_bids
        competing = [self.rng.randint(low, high) for _ in range(market.competitors)]
        bids: list[tuple[int, float, AdSet | None]] = [
            (bid, self.rng.random(), None) for bid in competing if bid >= market.floor
        ]
        bids += [(a.bid, self.rng.random(), a) for a in bidders]
        bids.sort(key=lambda entry: entry[:2], reverse=True)
        while bids and (winner := bids[0][2]) is not None:
            price = clearing_price([bid for bid, _, _ in bids[:2]], market.floor)
            cost = Decimal(price) / PER_THOUSAND
            if winner.affords(cost, at):
                self._serve(winner, cost, at)
                return
            bids.pop(0)  # it cannot pay for this one: the next bidder wins instead

    def _serve(self, adset: AdSet, cost: Decimal, at: datetime) -> None:
        adset.impressions += 1
        adset.spend += cost
        adset.spend_by_day[at.date()] += cost
        ad = self.rng.choice([ad for ad in adset.ads if ad.status == "ACTIVE"])
        if self.rng.random() < ad.click_through_rate:
            drawn = self.rng.getrandbits(192).to_bytes(24, "big")
            unique = hashlib.blake2b(drawn, key=self.click_namespace, digest_size=24).digest()
            click_id = "IwAR" + _url_safe(unique)
            landing = with_query(ad.landing_url, cid=click_id)
            adset.clicks.append(Click(click_id, at, landing, ad.id))


def clearing_price(ranked: Sequence[int], floor: int) -> int:
    """What the first of ``ranked`` (highest first, none under the floor) pays per thousand
    impressions: the second highest bid, or the floor when that is higher or there is none."""
    return max(ranked[1] if len(ranked) > 1 else 0, floor)


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _ctr_factor(name: str) -> float:
    # Between 0.5 and 1.5, fixed by the name: each variant has its own appeal, every run.
    digest = hashlib.sha256(name.encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") / 2**32


def _url_safe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
