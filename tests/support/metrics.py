"""Reading a running service's ``/metrics`` as Prometheus would."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """The samples named ``name`` whose labels include ``labels``."""
        return [
            sample
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum over the matching samples; 0 when none is there yet."""
        return sum(sample.value for sample in self.matching(name, **labels))

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}


async def scrape(base_url: str) -> Scrape:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return Scrape([sample for family in families for sample in family.samples])
