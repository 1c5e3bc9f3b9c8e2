"""``python -m shared.asyncapi OUTDIR``: each service's AsyncAPI 3.0 document, as YAML.

The documents are generated from the services themselves: each composition root is built
with default settings (nothing connects: the Mongo client is lazy and the broker is never
started) and FastStream describes the broker's subscribers and publishers, with the payload
schemas of the event contracts. ``make asyncapi`` writes them to ``docs/asyncapi/``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, get_type_hints

import yaml
from faststream.specification import AsyncAPI

from shared.devstack.processes import SERVICES
from shared.logs import configure_logging
from shared.runtime import Service
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

DISTRIBUTION = "campaign-orchestration"
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def project_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        project = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]
        return str(project["version"])


def service_document(name: str) -> str:
    """The AsyncAPI 3.0 document, as YAML, of the service ``services.<name>``."""
    package = importlib.import_module(f"services.{name}")
    build: Callable[[Any], Service] = importlib.import_module(f"services.{name}.app").build
    service = build(settings_of(build).model_validate({}))
    specification = AsyncAPI(
        service.infra.broker,
        title=f"{name} service",
        version=project_version(),
        description=(package.__doc__ or "").strip() or None,
        schema_version="3.0.0",
    ).to_specification()
    # Sorted keys: FastStream's channel order varies between runs; the file should not.
    return str(yaml.safe_dump(yaml.safe_load(specification.to_yaml()), sort_keys=True))


def settings_of(build: Callable[[Any], Service]) -> type[ServiceSettings]:
    """The settings class a composition root's ``build`` takes: its first parameter's type."""
    hints = get_type_hints(build)
    hints.pop("return", None)
    settings_cls = next(iter(hints.values()), None)
    if not (isinstance(settings_cls, type) and issubclass(settings_cls, ServiceSettings)):
        raise TypeError(f"{build.__module__}.build must take a ServiceSettings subclass")
    return settings_cls


def write_documents(outdir: Path, names: tuple[str, ...] = SERVICES) -> list[Path]:
    """Write ``<outdir>/<name>.yaml`` for each service that has a composition root."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if importlib.util.find_spec(f"services.{name}.app") is None:
            log.warning("skipping %s: services/%s/app.py does not exist yet", name, name)
            continue
        path = outdir / f"{name}.yaml"
        path.write_text(service_document(name))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    configure_logging("asyncapi", "INFO", "text")
    if len(argv) != 1:
        print("usage: python -m shared.asyncapi OUTDIR", file=sys.stderr)
        return 2
    for path in write_documents(Path(argv[0])):
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
