"""The dashboard's routes, added to the analytics API: the campaign list, a campaign's page
and its event stream, login and logout, and the static assets (plotly.js from the installed
plotly package, the page's own script and style from this package)."""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qs, quote

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.analytics.dashboard import pages
from services.analytics.dashboard.access import DashboardAccess
from services.analytics.dashboard.campaign_index import CampaignIndex
from services.analytics.dashboard.charts import plotly_js
from services.analytics.dashboard.live import LiveReports, campaign_view
from services.analytics.dashboard.pages import PREFIX, STATIC
from services.analytics.report import CampaignReports
from shared.api_keys.keyring import AccessDeniedError

CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as the report API takes it
MAX_LOGIN_FORM_BYTES = 4096
KEEP_ALIVE_SECONDS = 15
HEADERS = {
    # No inline script runs: the page's own code is a file, its figures a JSON block.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class Dashboard:
    def __init__(
        self,
        reports: CampaignReports,
        index: CampaignIndex,
        live: LiveReports,
        access: DashboardAccess,
    ) -> None:
        self._reports = reports
        self._index = index
        self._live = live
        self._access = access

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.campaigns),
            Route(f"{PREFIX}/campaigns/{{campaign_id}}", self.campaign),
            Route(f"{PREFIX}/campaigns/{{campaign_id}}/events", self.events),
            Route(f"{PREFIX}/login", self.login_form, methods=["GET"]),
            Route(f"{PREFIX}/login", self.log_in, methods=["POST"]),
            Route(f"{PREFIX}/logout", self.log_out, methods=["POST"]),
            Route(f"{STATIC}/plotly.min.js", plotly_script),
            Mount(STATIC, StaticFiles(packages=[("services.analytics.dashboard", "static")])),
        ]

    async def campaigns(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        return page(pages.campaign_list_page(await self._index.listed()))

    async def campaign(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        campaign_id = request.path_params["campaign_id"]
        view = await campaign_view(self._reports, campaign_id) if known(campaign_id) else None
        if view is None:
            return page(pages.not_found_page(campaign_id), status=404)
        return page(pages.campaign_page(campaign_id, view.name, view.sections))

    async def events(self, request: Request) -> Response:
        try:
            viewer = self._access.viewer(request)
        except AccessDeniedError as denied:
            return PlainTextResponse(denied.message, denied.status, headers=denied.headers)
        if viewer is None:
            return PlainTextResponse("log in at /dashboard/login first", 401)
        campaign_id = request.path_params["campaign_id"]
        if not known(campaign_id):
            return PlainTextResponse("no such campaign", 404)
        return EventSourceResponse(
            self._live.updates(campaign_id), ping=KEEP_ALIVE_SECONDS, headers=HEADERS
        )

    async def login_form(self, request: Request) -> Response:
        return page(pages.login_page(safe_next(request.query_params.get("next"))))

    async def log_in(self, request: Request) -> Response:
        body = await request.body()
        form = parse_qs(body[:MAX_LOGIN_FORM_BYTES].decode(errors="replace"))
        next_path = safe_next(form.get("next", [""])[0])
        response = RedirectResponse(next_path, status_code=303, headers=HEADERS)
        try:
            self._access.log_in(form.get("key", [""])[0].strip(), response)
        except AccessDeniedError as denied:
            refused = "That key is not valid." if denied.status == 401 else denied.message
            return page(pages.login_page(next_path, refused), status=denied.status)
        return response

    async def log_out(self, request: Request) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)
        self._access.log_out(response)
        return response

    def _refusal(self, request: Request) -> Response | None:
        """None when the request may see the page; else the answer it gets instead."""
        try:
            viewer = self._access.viewer(request)
        except AccessDeniedError as denied:
            return PlainTextResponse(denied.message, denied.status, headers=denied.headers)
        if viewer is not None:
            return None
        login = f"{PREFIX}/login?next={quote(request.url.path)}"
        return RedirectResponse(login, status_code=303, headers=HEADERS)


def page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def known(campaign_id: str) -> bool:
    return CAMPAIGN_ID.fullmatch(campaign_id) is not None


def safe_next(path: str | None) -> str:
    """Only a dashboard path: a login never redirects anywhere else."""
    if path and path.startswith(PREFIX) and "//" not in path and "\\" not in path:
        return path
    return PREFIX


async def plotly_script(_: Request) -> Response:
    return Response(
        _plotly_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@functools.cache
def _plotly_bytes() -> bytes:
    return plotly_js().encode()
