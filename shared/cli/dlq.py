"""``campaignctl dlq``: list, show and replay the letters services dead-lettered."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.dead_letter_topics import (
    NoSuchLetterError,
    StoredLetter,
    dead_letter_topic_of,
    read_letter,
    read_letters,
    refusal,
    replay,
)
from shared.cli.settings import CliSettings
from shared.cli.terminal import errors, fail, run_against_kafka
from shared.settings import KafkaClientSettings, load_settings

dlq_app = typer.Typer(
    help="Dead letters: messages a service gave up on, to inspect and re-drive.",
    no_args_is_help=True,
)

Topic = Annotated[
    str, typer.Argument(help="A dead-letter topic (orders.dlq) or the topic it serves (orders).")
]
WHY_CHARS = 160


def letter_line(stored: StoredLetter) -> str:
    """One line per letter, whatever its error looks like, for reading and for grep."""
    letter = stored.letter
    if letter is None:
        return f"{stored.address}  ({stored.problem})"
    why = " ".join(f"{letter.error.type}: {letter.error.message}".split())
    if len(why) > WHY_CHARS:
        why = why[: WHY_CHARS - 1] + "…"
    trimmed = "  (original trimmed)" if letter.original_trimmed else ""
    return (
        f"{stored.address}  {letter.topic}  key={letter.key or '-'}  {why}  "
        f"attempts={letter.attempts}  failed_at={letter.failed_at.isoformat(timespec='seconds')}"
        f"{trimmed}"
    )


@dlq_app.command("list")
def list_letters(
    topic: Annotated[
        str | None, typer.Option(help="Only this dead-letter topic (or the topic it serves).")
    ] = None,
) -> None:
    """One line per letter: where it is (topic partition offset), where it failed, why,
    after how many attempts and when."""
    settings = load_settings(CliSettings)
    topics = [dead_letter_topic_of(topic)] if topic else None
    found = run_against_kafka(settings, read_letters(settings, topics))
    for stored in found:
        typer.echo(letter_line(stored))
    if not found:
        errors.print("no dead letters", highlight=False)


@dlq_app.command("show")
def show_letter(topic: Topic, partition: int, offset: int) -> None:
    """One letter in full, as JSON."""
    settings = load_settings(CliSettings)
    try:
        stored = run_against_kafka(
            settings,
            read_letter(settings, dead_letter_topic_of(topic), partition, offset),
        )
    except NoSuchLetterError as error:
        raise fail(str(error)) from None
    if stored.letter is None:
        raise fail(f"{stored.address}: {stored.problem}")
    typer.echo(stored.letter.model_dump_json(indent=2))


@dlq_app.command("replay")
def replay_letters(
    topic: Topic,
    partition: Annotated[int | None, typer.Option(help="With --offset: one letter.")] = None,
    offset: Annotated[int | None, typer.Option(help="With --partition: one letter.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every letter on the topic.")] = False,
) -> None:
    """Publish letters' original messages back to their topics, once the cause is fixed.

    Consumers deduplicate by event id: replaying what was already applied changes nothing.
    A letter whose original was trimmed to fit the broker is refused.
    """
    one = (partition, offset) if partition is not None and offset is not None else None
    if (one is None) != every or (partition is None) != (offset is None):
        raise fail("give --partition and --offset for one letter, or --all", 2)
    settings = load_settings(CliSettings)
    dlq = dead_letter_topic_of(topic)
    try:
        chosen = run_against_kafka(
            settings,
            _letter_at(settings, dlq, *one) if one else read_letters(settings, [dlq]),
        )
    except NoSuchLetterError as error:
        raise fail(str(error)) from None
    replayable = []
    for stored in chosen:
        if (reason := refusal(stored)) is not None:
            errors.print(f"{stored.address}: not replayed: {reason}", markup=False, highlight=False)
        elif stored.letter is not None:
            replayable.append(stored.letter)
    sent = run_against_kafka(settings, replay(settings, replayable))
    typer.echo(f"replayed {sent} letter(s) from {dlq}")
    if sent < len(chosen):
        raise typer.Exit(1)


async def _letter_at(
    cluster: KafkaClientSettings, topic: str, partition: int, offset: int
) -> list[StoredLetter]:
    return [await read_letter(cluster, topic, partition, offset)]
