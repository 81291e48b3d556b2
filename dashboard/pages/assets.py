"""Asset pages: one node (``/node/<id>``), site (``/site/<id>``) or link (``/link/<id>``).

Each page shows the asset's state now (fresh, stale or missing, its latest readings with
units), its series over a chosen window in stacked panels (node: CPU, GPU and memory
utilisation, power, entropy; site: load, facility power, PUE, renewable share, carbon
intensity; link: latency, utilisation, loss) with the spells its alerts were pending or firing
shaded, its alerts now and their history (each row linked to the Replay page at its own
moment), and a "Replay at this moment" link: the Replay page at the page's moment with the
asset selected. A node's page explains its entropy (hourly values, interval shares, the sum);
a site's lists its nodes and links, each linked to its page.

The series cover the range of the page's time-range picker (:mod:`dashboard.timerange`, last
24 h by default, in the URL as ``?from=…&to=…``). The page's moment is the ``?t=`` of its URL
(the Alerts page links each alert's asset at the alert's moment, with the range starting
:data:`dashboard.links.ALERT_CONTEXT` before it; drawn as a dashed line), else the start of
its newest alert, else the range's end.
Everything is read through :mod:`twin.views.assets` (and the entropy readers of
:mod:`twin.jobs.entropy`); an id the inventory does not know gives a "No such …" page.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import entropy_figures as efig
from dashboard import ids
from dashboard import timerange as tr
from dashboard.alert_tables import Href, active_table, history_table, table
from dashboard.asset_figures import Panel, asset_series_figure
from dashboard.components import GRAPH_CONFIG, graph_panel, static_kpi_card
from dashboard.figures import empty_figure
from dashboard.links import asset_path, parse_time_query, replay_path
from twin.domain import Link, Node, Site
from twin.errors import CnetwinError, StoreError
from twin.jobs.entropy import explain_node, latest_entropy_time, read_node_entropy
from twin.models.entropy import entropy_sum_text
from twin.models.units import field_unit, format_quantity
from twin.views.assets import (
    AssetRef,
    AssetState,
    alert_moment,
    alert_spans,
    asset_alerts,
    asset_state,
    find_asset,
    node_energy,
    read_rules,
    site_energy_series,
    site_load_series,
    site_members,
    site_states,
    telemetry_series,
)

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

KIND_LABELS = {"node": "Node", "site": "Site", "link": "Link"}


PICKER = "asset"
"""The asset pages' name for their time-range picker."""
DEFAULT_RANGE = "-24h"

READING_LABELS = {
    "cpu_util": "CPU",
    "gpu_util": "GPU",
    "mem_util": "Memory",
    "net_util": "Network",
    "storage_util": "Storage",
    "power_w": "Power",
    "util": "Load",
    "latency_ms": "Latency",
    "jitter_ms": "Jitter",
    "loss_pct": "Loss",
    "throughput_gbps": "Throughput",
    "nodes_reporting": "Nodes reporting",
    "it_power_kw": "IT power",
    "facility_power_kw": "Facility power",
    "intensity_g_per_kwh": "Carbon intensity",
}

NODE_PANELS = (
    Panel(
        "Utilisation [%]", (("cpu_util", "CPU"), ("gpu_util", "GPU"), ("mem_util", "memory")), 100.0
    ),
    Panel("Power [kW]", (("power_w", "power"),), 0.001),
)
ENTROPY_PANEL = Panel("Entropy [bits]", (("entropy_bits", "H"), ("drift_bits", "|H − H*|")))
SITE_ENERGY_PANELS = (
    Panel("PUE [1]", (("pue", "PUE"),)),
    Panel("Renewable share [%]", (("renewable_share", "renewable"),), 100.0),
)
"""Site panels drawn from the derived ``site_energy`` series; the others from telemetry."""
SITE_PANELS = (
    Panel("Load [%]", (("util", "compute load"),), 100.0),
    Panel("Facility power [kW]", (("facility_power_kw", "facility"), ("it_power_kw", "IT"))),
    *SITE_ENERGY_PANELS,
    Panel("Carbon intensity [gCO2/kWh]", (("intensity_g_per_kwh", "intensity"),)),
)
LINK_PANELS = (
    Panel("Latency [ms]", (("latency_ms", "latency"),)),
    Panel("Utilisation [%]", (("util", "utilisation"),), 100.0),
    Panel("Loss [%]", (("loss_pct", "loss"),)),
)


def layout(context: PageContext, ref: AssetRef, href: Href) -> Component:
    """The page of ``ref``; a "No such …" page when the inventory has no such asset.
    href : maps an app path to its URL under the app's prefix."""
    item = find_asset(context.services.fleet, ref)
    if item is None:
        return not_found(ref, href)
    initial = tr.TimeRange(DEFAULT_RANGE, tr.NOW, tr.refresh_near(context.settings.refresh_s))
    return html.Div(
        className="asset",
        children=[
            dcc.Location(id=ids.ASSET_URL, refresh=False),
            dcc.Store(id=ids.ASSET_REF, data=ref.text()),
            html.Section(
                className="asset-head",
                children=[
                    html.Div(
                        [
                            html.H1(f"{KIND_LABELS[ref.kind]} {ref.id}", className="asset-title"),
                            html.Div(_subtitle(item, href), className="asset-subtitle"),
                        ]
                    ),
                    html.Div(className="asset-picker", children=tr.picker(PICKER, initial)),
                    dcc.Link(
                        "Replay at this moment",
                        id=ids.ASSET_REPLAY,
                        href="",
                        className="asset-replay",
                    ),
                ],
            ),
            html.Section(id=ids.ASSET_STATE, className="kpis asset-kpis"),
            html.Div(
                className=f"asset-grid asset-grid-{ref.kind}",
                children=[
                    graph_panel(
                        "Series (shaded: alerts pending or firing)",
                        ids.ASSET_SERIES,
                        empty_figure("Loading …"),
                        tr.ZOOM_CONFIG,
                    ),
                    html.Section(
                        className="panel asset-side",
                        children=[
                            html.Div(id=ids.ASSET_ALERTS),
                            html.H2("Alert history in the window", className="panel-title"),
                            html.Div(id=ids.ASSET_HISTORY),
                        ],
                    ),
                    html.Section(id=ids.ASSET_DETAIL, className="panel asset-detail"),
                ],
            ),
        ],
    )


def not_found(ref: AssetRef, href: Href) -> Component:
    """The page of an id the inventory does not know (the id is drawn as text)."""
    return html.Div(
        className="not-found",
        children=[
            html.H2(f"No such {ref.kind}: {ref.id}"),
            html.P(f"The fleet inventory has no {ref.kind} with this id."),
            dcc.Link("Back to the overview", href=href("/")),
        ],
    )


def _subtitle(item: Site | Node | Link, href: Href) -> list[Any]:
    if isinstance(item, Site):
        return [f"{item.name} · grid region {item.region} · {item.provider}"]
    if isinstance(item, Node):
        gpus = f" · {item.gpus} GPUs" if item.gpus else ""
        return [
            "at site ",
            dcc.Link(item.site, href=href(asset_path(AssetRef("site", item.site)))),
            f" · {item.kind} · {item.cpu_cores} cores{gpus} · workload type {item.workload}",
        ]
    return [
        dcc.Link(item.a, href=href(asset_path(AssetRef("site", item.a)))),
        " ↔ ",
        dcc.Link(item.b, href=href(asset_path(AssetRef("site", item.b)))),
        f" · {item.kind} · {item.capacity_gbps:g} Gbit/s"
        f" · base latency {item.base_latency_ms:g} ms",
    ]


def state_cards(state: AssetState, extra: list[Component]) -> list[Component]:
    """The status card (fresh, stale, missing; last reading and its age) and one card per
    latest reading, with its unit."""
    if state.ts is not None:
        note = f"last reading {state.ts:%H:%M:%S} UTC · {_age(state.age_s)} old"
    else:
        note = "no reading within the horizon" if state.status == "missing" else "its nodes"
    status = html.Div(
        className=f"asset-status asset-{state.status}",
        children=static_kpi_card("State", state.status, "", note),
    )
    readings = [
        static_kpi_card(READING_LABELS.get(r.field, r.field), r.text, "", "now")
        for r in state.readings
    ]
    return [status, *readings, *extra]


def _age(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    return format_quantity(seconds, field_unit("age_s"))


def series_panels(
    services: Services, ref: AssetRef, start: pd.Timestamp, stop: pd.Timestamp, every: timedelta
) -> list[tuple[pd.DataFrame, Panel]]:
    """The frames and panels of the asset's series over ``[start, stop)``."""
    store = services.store
    if ref.kind == "node":
        frame = telemetry_series(store, ref, start, stop, every)
        entropy = read_node_entropy(store, start, stop, nodes=[ref.id], bucket=every)
        if not entropy.empty:
            entropy = entropy.assign(ts=pd.to_datetime(entropy["ts"], utc=True)).sort_values("ts")
        return [*((frame, p) for p in NODE_PANELS), (entropy, ENTROPY_PANEL)]
    if ref.kind == "link":
        frame = telemetry_series(store, ref, start, stop, every)
        return [(frame, p) for p in LINK_PANELS]
    load = site_load_series(store, services.fleet, ref.id, start, stop, every)
    energy = site_energy_series(store, ref.id, start, stop, every)
    return [(energy if p in SITE_ENERGY_PANELS else load, p) for p in SITE_PANELS]


def node_detail(services: Services, node: str, now: pd.Timestamp, href: Href) -> list[Component]:
    """Why the node's entropy (compute c) is what it is, as of the newest entropy hour."""
    at = latest_entropy_time(services.store, now)
    head = html.H2("Entropy, explained", className="panel-title")
    if at is None:
        return [head, html.P("No entropy computed yet.", className="alerts-empty")]
    why = explain_node(services.store, node, at, "c")
    value = "–" if not math.isfinite(why.entropy_bits) else f"{why.entropy_bits:.2f}"
    return [
        html.H2(
            f"Why H = {value} bits · compute c · 24 h to {at:%H:%M} UTC", className="panel-title"
        ),
        html.Div(entropy_sum_text(why.probabilities), className="entropy-sum"),
        html.Div(
            className="asset-explain-graphs",
            children=[
                dcc.Graph(
                    id=ids.ASSET_ENTROPY_HOURS,
                    figure=efig.hours_figure(why.hours, why.edges, "Compute c"),
                    config=GRAPH_CONFIG,
                    responsive=True,
                ),
                dcc.Graph(
                    id=ids.ASSET_ENTROPY_INTERVALS,
                    figure=efig.intervals_figure(why.probabilities, why.terms, why.edges),
                    config=GRAPH_CONFIG,
                    responsive=True,
                ),
            ],
        ),
        dcc.Link("The fleet's entropy", href=href("/entropy"), className="asset-more"),
    ]


def site_detail(services: Services, site: str, now: pd.Timestamp, href: Href) -> list[Component]:
    """The site's nodes and links, each linked to its page, with its state now."""
    members = site_members(services.store, services.fleet, site, now)
    rows = [
        html.Tr(
            className=f"replay-{m['status']}",
            children=[
                html.Td(m["kind"]),
                html.Td(dcc.Link(m["id"], href=href(asset_path(AssetRef(m["kind"], m["id"]))))),
                html.Td(m["status"]),
                html.Td(_age(float(m["age_s"]))),
            ],
        )
        for m in members.to_dict("records")
    ]
    return [
        html.H2("Nodes and links of the site", className="panel-title"),
        table(["Kind", "Asset", "State", "Age"], rows, "asset-members-table"),
    ]


def link_detail(services: Services, link: str, now: pd.Timestamp, href: Href) -> list[Component]:
    """The link's two sites, each linked to its page, with how many of their nodes report."""
    item = find_asset(services.fleet, AssetRef("link", link))
    assert isinstance(item, Link)
    states = site_states(services.store, services.fleet, (item.a, item.b), now)
    rows = []
    for site in (item.a, item.b):
        state = states[site]
        reporting = next((r.text for r in state.readings if r.field == "nodes_reporting"), "–")
        rows.append(
            html.Tr(
                className=f"replay-{state.status}",
                children=[
                    html.Td(dcc.Link(site, href=href(asset_path(AssetRef("site", site))))),
                    html.Td(state.status),
                    html.Td(reporting),
                ],
            )
        )
    return [
        html.H2("Sites the link joins", className="panel-title"),
        table(["Site", "State", "Nodes reporting"], rows, "asset-members-table"),
    ]


def register_callbacks(app: Dash, services: Services) -> None:
    """Wire the picker and draw the page on load, on a range change and on every refresh."""
    tr.register_callbacks(app, PICKER, [ids.ASSET_SERIES], services.clock)

    @app.callback(
        Output(ids.ASSET_STATE, "children"),
        Output(ids.ASSET_SERIES, "figure"),
        Output(ids.ASSET_ALERTS, "children"),
        Output(ids.ASSET_HISTORY, "children"),
        Output(ids.ASSET_REPLAY, "href"),
        Output(ids.ASSET_DETAIL, "children"),
        Input(ids.ASSET_URL, "search"),
        tr.refresh_input(PICKER),
        tr.range_input(PICKER),
        State(ids.ASSET_REF, "data"),
    )
    def render(
        search: str | None, _n: int | None, picked: dict[str, Any], ref_text: str | None
    ) -> tuple[Any, ...]:
        ref = AssetRef.parse(ref_text)
        if ref is None or find_asset(services.fleet, ref) is None:
            raise PreventUpdate
        now = pd.Timestamp(services.clock()).tz_convert("UTC")
        try:
            window = tr.window_of(picked, now.to_pydatetime())
            return render_page(
                services, ref, now, window, picked, parse_time_query(search), app.get_relative_path
            )
        except StoreError as exc:
            log.warning("store unavailable for the %s page: %s", ref.kind, exc)
            raise PreventUpdate from exc
        except CnetwinError as exc:  # a range the picker has already refused
            log.info("%s page range %s: %s", ref.kind, picked, exc)
            raise PreventUpdate from exc


def render_page(
    services: Services,
    ref: AssetRef,
    now: pd.Timestamp,
    window: tr.Window,
    picked: dict[str, Any],
    wanted: pd.Timestamp | None,
    href: Href,
) -> tuple[Any, ...]:
    """The page's parts over ``window`` (the picker's range ``picked``) at ``now``: state
    cards, series figure, the alerts at the window's end, the history in the window, the Replay
    link and the detail panel. ``wanted`` is the moment of the URL (None: the start of the
    newest alert, else the window's end)."""
    rules = read_rules(services.alert_rules).rules
    start, stop = window.start, min(window.end, now)
    alerts = asset_alerts(services.store, rules, ref, start, stop)
    newest = next((m for s in alerts.current if (m := alert_moment(s)) is not None), None)
    moment = wanted or (pd.Timestamp(newest) if newest is not None else None)
    spans = alert_spans(alerts, start, stop)
    figure = asset_series_figure(
        series_panels(services, ref, start, window.end, window.bucket),
        spans,
        moment,
        f"No data from {start:%m-%d %H:%M} to {window.end:%m-%d %H:%M} UTC",
    )
    figure = tr.show_window(figure, window, picked)
    extra: list[Component] = []
    if ref.kind == "node":
        used = node_energy(services.store, ref.id, start, stop)
        extra = [
            static_kpi_card(
                "Energy",
                format_quantity(used["energy_kwh"], field_unit("energy_kwh")),
                "",
                f"in the {tr.span_text(window)} shown",
            ),
            static_kpi_card(
                "Emissions",
                format_quantity(used["emissions_kg"], field_unit("emissions_kg")),
                "",
                f"in the {tr.span_text(window)} shown",
            ),
        ]
    state = asset_state(services.store, services.fleet, ref, now)
    if ref.kind == "node":
        detail = node_detail(services, ref.id, now, href)
    elif ref.kind == "site":
        detail = site_detail(services, ref.id, now, href)
    else:
        detail = link_detail(services, ref.id, now, href)
    replay = href(replay_path(moment if moment is not None else stop, ref))
    heading = "Alerts now" if stop >= now else f"Alerts at {stop:%Y-%m-%d %H:%M} UTC"
    return (
        state_cards(state, extra),
        figure,
        [
            html.H2(heading, className="panel-title"),
            active_table(
                alerts.current,
                rules,
                stop.to_pydatetime(),
                href,
                ids.ASSET_ALERTS_TABLE,
                series=False,
            ),
        ],
        history_table(
            alerts.events,
            rules,
            href,
            ids.ASSET_HISTORY_TABLE,
            50,
            "No alert changes in the window.",
        ),
        replay,
        detail,
    )
