"""``campaignctl api-key new``: a fresh API key, shown once, and the keys-file line for it.

The key goes to the client that will send it; the line, which holds only the key's hash,
goes into ``API_KEYS_FILE``. Nothing else keeps the key: lose it and make another.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shared.api_keys.keys import KeysFileError, checked_name, keys_file_line, new_key, parse_scopes

api_key_app = typer.Typer(help="API keys for the HTTP APIs, kept hashed in API_KEYS_FILE.")


@api_key_app.command("new")
def new(
    name: Annotated[str, typer.Option(help="Shown in logs: who or what holds the key.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="Repeat for several: payments:write, payments:read, refunds:write, "
            "reports:read, events:write."
        ),
    ],
) -> None:
    """Print a new key once, and the line that makes it valid in API_KEYS_FILE."""
    try:
        checked_name(name)
    except KeysFileError as error:
        raise typer.BadParameter(str(error), param_hint="--name") from None
    try:
        scopes = parse_scopes(",".join(scope))
    except KeysFileError as error:
        raise typer.BadParameter(str(error), param_hint="--scope") from None
    key = new_key()
    typer.echo(f"API key for {name} (shown once; give it to the client now):")
    typer.echo(f"  {key}")
    typer.echo("Add this line to API_KEYS_FILE (services re-read it when it changes):")
    typer.echo(f"  {keys_file_line(name, scopes, key)}")
