"""A recipient's time zone: their own IANA zone, else their country's when it has only one,
else UTC.

The country table is the IANA database's ``zone.tab`` (one line per zone, with its
country), read from the ``tzdata`` package so it is the same on every machine. A country
is unambiguous when all its zones keep the same clock in winter and summer (Germany's
Berlin and Busingen do); countries spanning several clocks (US, CA, BR, AU, RU, ...) are
not, and their customers without a zone of their own are sent by UTC.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import datetime
from importlib.resources import files
from zoneinfo import ZoneInfo

UTC_ZONE = ZoneInfo("UTC")


@functools.cache
def country_zones() -> dict[str, tuple[str, ...]]:
    """Every country code with the zones ``zone.tab`` lists for it."""
    zones: defaultdict[str, list[str]] = defaultdict(list)
    table = files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    for line in table.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        country, _coordinates, zone, *_ = line.split("\t")
        zones[country].append(zone)
    return {country: tuple(names) for country, names in zones.items()}


@functools.cache
def country_zone(country: str) -> ZoneInfo | None:
    """The country's one clock, or None when its zones disagree or it has none."""
    zones = [ZoneInfo(name) for name in country_zones().get(country, ())]
    clocks = {tuple(_offsets(zone)) for zone in zones}
    return zones[0] if len(clocks) == 1 else None


def recipient_zone(timezone: str | None, country: str | None) -> ZoneInfo:
    if timezone:
        return ZoneInfo(timezone)
    return country_zone(country or "") or UTC_ZONE


def _offsets(zone: ZoneInfo) -> list[object]:
    year = datetime.now(UTC_ZONE).year
    return [datetime(year, month, 15, 12, tzinfo=zone).utcoffset() for month in (1, 7)]
