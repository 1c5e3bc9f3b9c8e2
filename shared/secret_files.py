"""Secret settings read from files: ``<NAME>_FILE`` names a file holding ``<NAME>``'s value.

The Docker and Kubernetes convention for secrets mounted as files (``/run/secrets/...``), so a
secret need not sit in the process environment, where ``ps e`` and crash dumps show it. It
applies to every ``SecretStr`` setting and to every ``*_url`` setting (a URL may carry a
password, as ``MONGODB_URL`` does). One trailing newline, which ``echo`` and editors add, is
not part of the value.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

FILE_SUFFIX = "_FILE"


class SecretFileError(ValueError):
    """A ``<NAME>_FILE`` that cannot be used; the message starts with the variable's name."""


def readable_from_file(name: str, field: FieldInfo) -> bool:
    """Whether setting ``name`` may come from ``<NAME>_FILE``: secrets and URLs."""
    annotation = field.annotation
    return name.endswith("_url") or SecretStr in (annotation, *typing.get_args(annotation))


def read_secret_file(variable: str, path: str) -> str:
    """The contents of ``path`` without a trailing newline, or ``SecretFileError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise SecretFileError(f"{variable}: cannot read {path}: {reason}") from None
    return text.removesuffix("\n").removesuffix("\r")


class SecretFilesSource(PydanticBaseSettingsSource):
    """A pydantic-settings source: each file-readable setting whose ``<NAME>_FILE`` is set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{field_name.upper()}{FILE_SUFFIX}"
        path = os.environ.get(variable, "")
        if not path or not readable_from_file(field_name, field):
            return None, field_name, False
        if os.environ.get(field_name.upper(), ""):
            raise SecretFileError(f"{variable}: set {field_name.upper()} or {variable}, not both")
        return read_secret_file(variable, path), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
        return values


class SecretFilesSettings(BaseSettings):
    """Settings read from the environment, then from ``<NAME>_FILE`` for secrets and URLs."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = SecretFilesSource(settings_cls)
        return init_settings, env_settings, files, dotenv_settings, file_secret_settings
