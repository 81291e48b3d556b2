"""The Dash application: a factory that wires the shell (header, navigation, page container)
to the pages. Nothing is loaded at import and nothing mutable is global, so every worker that
calls ``create_app`` with the same settings serves the same app.

Pages are listed in PAGES; the navigation bar is built from that list and a path router (one
callback on the URL) shows the page, so a new page is one module and one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from dash import Dash, Input, Output, dcc, html
from dash.development.base_component import Component

from dashboard import auth, headers, health, ids
from dashboard.pages import alerts, energy, entropy, forecasts, overview, replay, whatif
from twin.alerts.state import alert_counts, badge_text
from twin.config import Settings
from twin.errors import StoreError
from twin.health import Check, store_check
from twin.model import Fleet
from twin.overview import STALE_AFTER, last_data_at
from twin.store import TelemetryStore
from twin.window_cache import WindowCache

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
PRODUCT = "cnetwin"
TAGLINE = "computing · network · energy twin"


def utc_now() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """What the pages read from: the telemetry store, the fleet inventory and a clock.

    clock : callable returning the current time (tz-aware UTC); tests pass a fixed or fast one.
    """

    store: TelemetryStore
    fleet: Fleet
    clock: Callable[[], datetime] = field(default=utc_now)
    checks: tuple[Check, ...] = ()
    """Readiness checks beyond the store's (``/readyz``), e.g. the demo's broker connection."""
    whatif_max_runs: int = 2
    """What-if runs alive at once at most (setting ``whatif_max_runs``)."""
    windows: WindowCache = field(default_factory=WindowCache)
    """Settled windows of the Overview's windowed reads, kept between page loads and ticks."""


@dataclass(frozen=True)
class PageContext:
    """What a page's layout function receives on every page load."""

    settings: Settings
    services: Services
    asset_url: Callable[[str], str]
    """Maps a path inside the assets folder to its URL under the app's prefix."""


@dataclass(frozen=True)
class Page:
    """One page of the dashboard: where it lives, its navigation label and its two functions."""

    path: str
    title: str
    layout: Callable[[PageContext], Component]
    register_callbacks: Callable[[Dash, Services], None]


PAGES: tuple[Page, ...] = (
    Page("/", "Overview", overview.layout, overview.register_callbacks),
    Page(energy.PATH, "Energy & Carbon", energy.layout, energy.register_callbacks),
    Page(entropy.PATH, "Entropy", entropy.layout, entropy.register_callbacks),
    Page(replay.PATH, "Replay", replay.layout, replay.register_callbacks),
    Page(whatif.PATH, "What-if", whatif.layout, whatif.register_callbacks),
    Page(forecasts.PATH, "Forecasts", forecasts.layout, forecasts.register_callbacks),
    Page(alerts.PATH, "Alerts", alerts.layout, alerts.register_callbacks),
)
"""The pages in navigation order; the first one is the home page."""


def create_app(settings: Settings, services: Services) -> Dash:
    """Build the dashboard over ``services``; serve it with ``app.run`` or ``app.server``."""
    app = Dash(
        __name__,
        assets_folder=str(ASSETS),
        title=PRODUCT,
        update_title="",
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    app.layout = _shell(app, settings)
    context = PageContext(settings=settings, services=services, asset_url=app.get_asset_url)
    _register_shell_callbacks(app, context)
    for page in PAGES:
        page.register_callbacks(app, services)
    auth.install(app, settings)
    headers.install(app, settings.https)
    health.install(app, [p.path for p in PAGES], [store_check(services.store), *services.checks])
    log.info("dashboard ready: %d page(s), store %s", len(PAGES), describe_store(settings))
    return app


def describe_store(settings: Settings) -> str:
    """A one-line description of the store in use, for the header."""
    url = settings.store_url
    if url.backend == "duckdb":
        return f"DuckDB · {url.path}"
    return f"InfluxDB · {url.url} · {url.database}"


def age_text(last: pd.Timestamp | None, now: datetime) -> str:
    """How long ago ``last`` was, for the header: ``last data 4 s ago`` … or ``no data``."""
    if last is None:
        return "no data in 24 h"
    seconds = max((pd.Timestamp(now) - last).total_seconds(), 0.0)
    if seconds < 120:
        return f"last data {seconds:.0f} s ago"
    if seconds < 7200:
        return f"last data {seconds / 60:.0f} min ago"
    return f"last data {seconds / 3600:.1f} h ago"


def _shell(app: Dash, settings: Settings) -> Component:
    return html.Div(
        className="shell",
        children=[
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Interval(id=ids.SHELL_TICK, interval=int(settings.refresh_s * 1000)),
            html.Header(
                className="header",
                children=[
                    html.Div(
                        className="brand",
                        children=[
                            html.Span(PRODUCT, className="brand-name"),
                            html.Span(TAGLINE, className="brand-tagline"),
                        ],
                    ),
                    html.Nav(id=ids.NAV, className="nav", children=_nav(app, "/")),
                    html.Div(
                        className="status",
                        children=[
                            html.Span(describe_store(settings), className="store"),
                            dcc.Link(
                                id=ids.ALERT_BADGE,
                                href=app.get_relative_path(alerts.PATH),
                                className="alert-badge",
                                title="alerts firing and pending: open the Alerts page",
                            ),
                            html.Span(id=ids.LAST_DATA, className="last-data"),
                            html.Span(id=ids.CLOCK, className="clock"),
                            auth.account_area(),
                        ],
                    ),
                ],
            ),
            html.Main(id=ids.PAGE, className="page-container"),
        ],
    )


def _nav(app: Dash, active: str) -> list[Component]:
    return [
        dcc.Link(
            page.title,
            href=app.get_relative_path(page.path),
            className="nav-link active" if page.path == active else "nav-link",
        )
        for page in PAGES
    ]


def _page_for(path: str) -> Page | None:
    wanted = "/" + path.strip("/")
    return next((p for p in PAGES if p.path == wanted), None)


def _register_shell_callbacks(app: Dash, context: PageContext) -> None:
    services = context.services

    @app.callback(
        Output(ids.PAGE, "children"),
        Output(ids.NAV, "children"),
        Input(ids.URL, "pathname"),
    )
    def route(pathname: str | None) -> tuple[Component, list[Component]]:
        path = app.strip_relative_path(pathname or "/") or ""
        page = _page_for(path)
        if page is None:
            missing = html.Div(
                className="not-found",
                children=[
                    html.H2("No such page"),
                    dcc.Link("Back to the overview", href=app.get_relative_path("/")),
                ],
            )
            return missing, _nav(app, "")
        return page.layout(context), _nav(app, page.path)

    @app.callback(
        Output(ids.CLOCK, "children"),
        Output(ids.LAST_DATA, "children"),
        Output(ids.LAST_DATA, "className"),
        Output(ids.ALERT_BADGE, "children"),
        Output(ids.ALERT_BADGE, "className"),
        Input(ids.SHELL_TICK, "n_intervals"),
    )
    def tick(_n: int | None) -> tuple[str, str, str, str, str]:
        now = services.clock()
        clock = pd.Timestamp(now).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            last = last_data_at(services.store, now)
            counts = alert_counts(services.store, now)
        except StoreError as exc:
            log.warning("store unavailable for the header: %s", exc)
            return clock, "store unavailable", "last-data stale", "alerts unknown", "alert-badge"
        fresh = last is not None and pd.Timestamp(now) - last <= STALE_AFTER
        level = "firing" if counts["firing"] else "pending" if counts["pending"] else "quiet"
        return (
            clock,
            age_text(last, now),
            "last-data" if fresh else "last-data stale",
            badge_text(counts),
            f"alert-badge {level}",
        )
