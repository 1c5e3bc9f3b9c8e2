"""One marketing email per delivery, as the recipient's mail server receives it.

Each message carries what Gmail's and Yahoo's rules for bulk senders ask for: a unique
``Message-ID``; ``List-Unsubscribe`` with the recipient's one-click URL and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), so the mail client's own
unsubscribe button works without opening the email; the content's CAN-SPAM footer (postal
address, unsubscribe link); and ``Feedback-ID`` (campaign, segment, variant, sender), by
which Gmail reports complaints per campaign. Every link the content makes leads through a
signed tracking URL (``/t/<token>``) that redirects to the landing page; the unsubscribe URL
is ``/u/<token>``. Text and HTML alternatives say the same; the HTML hides the preheader,
which mail clients show as the preview line.
"""

from __future__ import annotations

import email.policy
import functools
import html
from dataclasses import dataclass
from datetime import datetime
from email import headerregistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from services.launcher.domain.deliveries import Delivery
from services.launcher.domain.recipients import Recipient
from services.launcher.domain.tracking import LinkKind, TrackedLink, TrackingKeys
from shared.events.campaigns import ContentPiece
from shared.events.common import Channel
from shared.personalisation import render_for_recipient
from shared.settings import ConfigurationError

FOOTER_SEPARATOR = "\n--\n"
DEFAULT_CALL_TO_ACTION = "Shop now"


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The standard header classes, each made once: the registry builds a new class for
    every header it parses, a quarter of the time a message takes to compose."""

    @functools.cache  # noqa: B019 - one registry for the process; nothing to free
    def __getitem__(self, name: str) -> type[headerregistry.BaseHeader]:
        return super().__getitem__(name)


# RFC 5322's line limit rather than the 78-character fold: a long tracked URL that cannot be
# folded would otherwise become an encoded word, which no client reads as a URL.
POLICY = email.policy.SMTP.clone(max_line_length=998, header_factory=_HeaderClasses())


@dataclass(frozen=True)
class TrackedUrls:
    click: str
    unsubscribe: str


class EmailComposer:
    def __init__(self, sender: str, public_url: str, keys: TrackingKeys) -> None:
        address = parseaddr(sender)[1]
        self.domain = address.rpartition("@")[2]
        if not self.domain or "." not in self.domain:
            raise ConfigurationError(
                "LAUNCHER_SENDER: needs an address with a domain, "
                "e.g. 'Shop <offers@shop.example.com>'"
            )
        self.sender = sender
        self.envelope_from = address
        self._base_url = public_url.rstrip("/")
        self._keys = keys

    def compose(
        self, delivery: Delivery, recipient: Recipient, piece: ContentPiece, now: datetime
    ) -> EmailMessage:
        urls = self.tracked_urls(delivery)
        read = personalise(piece, recipient.first_name, urls)
        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = recipient.email
        message["Subject"] = read.subject or read.headline or ""
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid(domain=self.domain)
        message["List-Unsubscribe"] = f"<{urls.unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Feedback-ID"] = ":".join(
            (delivery.campaign_id, delivery.segment_id, piece.variant_id, self.domain)
        )
        message.set_content(plain_text(read, urls))
        message.add_alternative(html_text(read, urls), subtype="html")
        return message

    def tracked_urls(self, delivery: Delivery) -> TrackedUrls:
        def url(kind: LinkKind, route: str) -> str:
            link = TrackedLink(
                kind=kind,
                campaign_id=delivery.campaign_id,
                segment_id=delivery.segment_id,
                channel=Channel.EMAIL,
                variant_id=delivery.variant_id or "",
                customer_id=delivery.customer_id,
            )
            return f"{self._base_url}/{route}/{self._keys.sign(link)}"

        return TrackedUrls(
            click=url(LinkKind.CLICK, "t"), unsubscribe=url(LinkKind.UNSUBSCRIBE, "u")
        )


def personalise(piece: ContentPiece, first_name: str | None, urls: TrackedUrls) -> ContentPiece:
    """The piece as this recipient reads it: links tracked, every send-time token rendered."""
    body = piece.body.replace(piece.cta_url, urls.click) if piece.cta_url else piece.body
    return render_for_recipient(
        piece.model_copy(update={"body": body}), first_name, urls.unsubscribe
    )


def plain_text(read: ContentPiece, urls: TrackedUrls) -> str:
    main, footer = split_footer(read.body)
    call = f"{read.call_to_action or DEFAULT_CALL_TO_ACTION}: {urls.click}"
    return f"{main}\n\n{call}\n" + (f"{FOOTER_SEPARATOR}{footer}\n" if footer else "")


def html_text(read: ContentPiece, urls: TrackedUrls) -> str:
    main, footer = split_footer(read.body)
    paragraphs = "\n".join(
        f"<p>{linked(part, urls)}</p>" for part in main.split("\n\n") if part.strip()
    )
    button = (
        f'<p><a href="{urls.click}" style="display:inline-block;padding:12px 20px;'
        'background:#1a73e8;color:#ffffff;text-decoration:none;border-radius:4px">'
        f"{html.escape(read.call_to_action or DEFAULT_CALL_TO_ACTION)}</a></p>"
    )
    preview = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" '
        f'aria-hidden="true">{html.escape(read.preheader)}</div>\n'
        if read.preheader
        else ""
    )
    legal = (
        f'<hr>\n<p style="font-size:12px;color:#666666">{linked(footer, urls)}</p>\n'
        if footer
        else ""
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(read.subject or '')}</title></head>\n<body>\n"
        f"{preview}{paragraphs}\n{button}\n{legal}</body></html>\n"
    )


def split_footer(body: str) -> tuple[str, str | None]:
    """The message and its legal footer, which follows the last ``--`` line."""
    main, separator, footer = body.rpartition(FOOTER_SEPARATOR)
    return (main.strip(), footer.strip()) if separator else (body.strip(), None)


def linked(text: str, urls: TrackedUrls) -> str:
    """``text`` escaped for HTML, with line breaks kept and the tracked URLs made links."""
    escaped = html.escape(text).replace("\n", "<br>\n")
    for url in (urls.unsubscribe, urls.click):
        escaped = escaped.replace(html.escape(url), f'<a href="{url}">{html.escape(url)}</a>')
    return escaped
