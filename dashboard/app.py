"""The Dash application: a factory that wires the shell (header, navigation, page container)
to the pages. Nothing is loaded at import and nothing mutable is global, so every worker that
calls ``create_app`` with the same settings serves the same app.

Pages are listed in PAGES; the navigation bar is built from that list and a path router (one
callback on the URL) shows the page, so a new page is one module and one entry here. Asset
pages (``/node/<id>``, ``/site/<id>``, ``/link/<id>``) are routed by their path's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html
from dash.development.base_component import Component

from dashboard import auth, headers, health, ids
from dashboard.links import parse_asset_path
from dashboard.pages import alerts, assets, energy, entropy, forecasts, overview, replay, whatif
from twin.alerts.state import alert_counts, badge_text
from twin.config import Settings
from twin.domain import Fleet
from twin.errors import StoreError
from twin.health import Check, store_check
from twin.jobs.loading import HistoryLoad, read_history_load
from twin.store import TelemetryStore
from twin.views.assets import KINDS
from twin.views.latest_cache import LatestStates
from twin.views.overview import STALE_AFTER, last_data_at
from twin.views.replay_cache import ReplayViews
from twin.views.window_cache import WindowCache

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
    alert_rules: Path | None = None
    """The alert rule file the scheduler evaluates (setting ``alert_rules``; None: the shipped
    one); ``create_app`` fills it from the settings when not given."""
    alert_load_grace: timedelta = timedelta(minutes=5)
    """How long alert rules stay held after a history load (setting ``alert_load_grace_s``)."""
    windows: WindowCache = field(default_factory=WindowCache)
    """Settled windows of the Overview's windowed reads and the Entropy page's complete hours,
    kept between page loads and ticks."""
    replay_views: ReplayViews = field(default_factory=ReplayViews)
    """The Replay page's views of settled moments, shared by every user."""
    latest: LatestStates = field(default_factory=LatestStates)
    """The Overview's latest state per moment, one read shared by its KPIs and its map (give
    it the live refresh period, setting ``refresh_s``)."""


@dataclass(frozen=True)
class PageContext:
    """What a page's layout function receives on every page load."""

    settings: Settings
    services: Services
    asset_url: Callable[[str], str]
    """Maps a path inside the assets folder to its URL under the app's prefix."""
    kiosk: bool = False
    """Wall-screen mode (``?kiosk``): only what is read from across the room, no controls."""


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
    if services.alert_rules is None:
        services = replace(services, alert_rules=settings.alert_rules)
    context = PageContext(settings=settings, services=services, asset_url=app.get_asset_url)
    _register_shell_callbacks(app, context)
    for page in PAGES:
        page.register_callbacks(app, services)
    assets.register_callbacks(app, services)
    auth.install(app, settings)
    headers.install(app, settings.https)
    health.install(
        app,
        [p.path for p in PAGES],
        [store_check(services.store), *services.checks],
        prefixes=[f"/{kind}/" for kind in KINDS],
    )
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


def is_kiosk(search: str | None) -> bool:
    """Whether a page's query string (``?kiosk``, ``?kiosk=1``, ``?a=b&kiosk``) asks for the
    wall-screen mode."""
    pairs = (search or "").lstrip("?").split("&")
    return any(p.split("=", 1)[0] == "kiosk" and p not in ("kiosk=0", "kiosk=no") for p in pairs)


def header_status(
    last: pd.Timestamp | None, load: HistoryLoad | None, now: datetime
) -> tuple[str, str, str, float]:
    """The header's data age and loading texts: (last-data text, its class, loading text,
    loading share [0-1]); while history loads the age is the loaded history's, not an alarm,
    and the loading text is "" when nothing loads."""
    if load is not None and load.loading:
        until = load.until.strftime("%d %b %H:%M UTC")
        return f"history loaded to {until}", "last-data loading", load.text(), load.share
    fresh = last is not None and pd.Timestamp(now) - last <= STALE_AFTER
    return age_text(last, now), "last-data" if fresh else "last-data stale", "", 1.0


def _shell(app: Dash, settings: Settings) -> Component:
    return html.Div(
        id=ids.SHELL,
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
                        id=ids.LOADING,
                        className="loading hidden",
                        children=[
                            html.Span(id=ids.LOADING_TEXT, className="loading-text"),
                            html.Progress(id=ids.LOADING_BAR, max="1", className="loading-bar"),
                        ],
                    ),
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
        Output(ids.SHELL, "className"),
        Input(ids.URL, "pathname"),
        State(ids.URL, "search"),
    )
    def route(pathname: str | None, search: str | None) -> tuple[Component, list[Component], str]:
        path = app.strip_relative_path(pathname or "/") or ""
        kiosk = is_kiosk(search)
        shell = "shell kiosk" if kiosk else "shell"
        asset = parse_asset_path(path)
        if asset is not None:
            page_context = replace(context, kiosk=kiosk)
            return assets.layout(page_context, asset, app.get_relative_path), _nav(app, ""), shell
        page = _page_for(path)
        if page is None:
            missing = html.Div(
                className="not-found",
                children=[
                    html.H2("No such page"),
                    dcc.Link("Back to the overview", href=app.get_relative_path("/")),
                ],
            )
            return missing, _nav(app, ""), shell
        return page.layout(replace(context, kiosk=kiosk)), _nav(app, page.path), shell

    @app.callback(
        Output(ids.CLOCK, "children"),
        Output(ids.LAST_DATA, "children"),
        Output(ids.LAST_DATA, "className"),
        Output(ids.ALERT_BADGE, "children"),
        Output(ids.ALERT_BADGE, "className"),
        Output(ids.LOADING, "className"),
        Output(ids.LOADING_TEXT, "children"),
        Output(ids.LOADING_BAR, "value"),
        Input(ids.SHELL_TICK, "n_intervals"),
    )
    def tick(_n: int | None) -> tuple[str, ...]:
        now = services.clock()
        clock = pd.Timestamp(now).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            last = last_data_at(services.store, now)
            counts = alert_counts(services.store, now)
            load = read_history_load(services.store, now)
        except StoreError as exc:
            log.warning("store unavailable for the header: %s", exc)
            unknown = ("alerts unknown", "alert-badge", "loading hidden", "", "0")
            return clock, "store unavailable", "last-data stale", *unknown
        age, age_class, loading, share = header_status(last, load, now)
        level = "firing" if counts["firing"] else "pending" if counts["pending"] else "quiet"
        return (
            clock,
            age,
            age_class,
            badge_text(counts),
            f"alert-badge {level}",
            "loading" if loading else "loading hidden",
            loading,
            f"{share:.3f}",
        )
