"""One email as the demo shows it: the headers that make it deliverable, and its text."""

from __future__ import annotations

from rich.markup import escape
from rich.panel import Panel

from shared.cli.inbox import Letter

SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "DKIM-Signature",
)
TEXT_LINES = 12


def letter_panel(letter: Letter) -> Panel:
    headers = [
        f"[bold]{name}:[/] {escape(value if len(value) < 110 else value[:107] + '...')}"
        for name in SHOWN_HEADERS
        if (value := letter.headers.get(name))
    ]
    text = "\n".join(letter.text.strip().splitlines()[:TEXT_LINES])
    return Panel("\n".join([*headers, "", escape(text)]), title=escape(letter.subject))
