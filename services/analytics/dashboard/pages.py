"""The dashboard's HTML: the layout, the login form, the campaign list and the campaign
page. Every value is escaped here; chart figures travel as JSON in a non-executed script
block, so the page runs under a Content-Security-Policy that allows no inline script."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from services.analytics.dashboard.page_model import Section, Table

PREFIX = "/dashboard"
STATIC = f"{PREFIX}/static"


def layout(title: str, body: str, *, signed_in: bool) -> str:
    logout = f'<form method="post" action="{PREFIX}/logout"><button>Log out</button></form>'
    logout = logout if signed_in else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Campaign dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC}/dashboard.css">
<script src="{STATIC}/plotly.min.js" defer></script>
<script src="{STATIC}/dashboard.js" defer></script>
</head>
<body>
<header><a href="{PREFIX}">Campaigns</a><h1>{escape(title)}</h1>{logout}</header>
{body}
</body>
</html>
"""


def login_page(next_path: str, error: str | None = None) -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<main class="login">
{message}
<form method="post" action="{PREFIX}/login">
<label for="key">API key with the reports:read scope</label>
<input id="key" name="key" type="password" autocomplete="off" required>
<input type="hidden" name="next" value="{escape(next_path)}">
<button type="submit">Log in</button>
</form>
</main>"""
    return layout("Log in", body, signed_in=False)


def campaign_list_page(campaigns: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td><a href="{PREFIX}/campaigns/{escape(c["campaign_id"])}">'
        f"{escape(c['campaign_id'])}</a></td><td>{escape(c['name'] or '—')}</td>"
        f"<td>{c['payments_completed']:,}</td><td>{escape(c['updated_at'])}</td></tr>"
        for c in campaigns
    )
    empty = "" if campaigns else '<p class="note">No campaign has reached analytics yet.</p>'
    body = f"""<main>
<table data-figure="campaigns"><thead><tr><th>campaign</th><th>name</th><th>payments</th>
<th>last change</th></tr></thead><tbody>{rows}</tbody></table>{empty}
</main>"""
    return layout("Campaigns", body, signed_in=True)


def campaign_page(campaign_id: str, name: str | None, sections: Sequence[Section]) -> str:
    events = f"{PREFIX}/campaigns/{escape(campaign_id)}/events"
    body = f"""<p class="status">Live: <span id="live" data-state="connecting">connecting</span></p>
<main id="report" data-events="{events}">{sections_html(sections)}</main>
<script type="application/json" id="charts">{charts_json(sections)}</script>"""
    return layout(name or campaign_id, body, signed_in=True)


def not_found_page(campaign_id: str) -> str:
    known = f"Analytics has not heard of campaign {campaign_id}."
    body = f'<main><p class="error">{escape(known)}</p></main>'
    return layout("Unknown campaign", body, signed_in=True)


def sections_html(sections: Sequence[Section]) -> str:
    return "".join(section_html(section) for section in sections)


def charts_json(sections: Sequence[Section]) -> str:
    """The figures as JSON safe inside a <script> block: no "</script>" can close it."""
    figures = {chart.name: chart.figure for s in sections for chart in s.charts}
    return json.dumps(figures, separators=(",", ":")).replace("<", "\\u003c")


def section_html(section: Section) -> str:
    figures = "".join(
        f'<div class="figure"><span class="label">{escape(f.label)}</span>'
        f'<span class="value" data-figure="{f.name}">{escape(f.text)}</span></div>'
        for f in section.figures
    )
    charts = "".join(
        f'<div class="chart" data-figure="{c.name}" data-chart></div>' for c in section.charts
    )
    notes = "".join(
        f'<p class="note" data-figure="rationale">{escape(n)}</p>' for n in section.notes
    )
    return (
        f'<section data-section="{section.name}"><h2>{escape(section.title)}</h2>'
        f'<div class="figures">{figures}</div><div class="charts">{charts}</div>'
        f"{''.join(table_html(t) for t in section.tables)}{notes}</section>"
    )


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return (
        f'<table data-figure="{table.name}"><caption>{escape(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
