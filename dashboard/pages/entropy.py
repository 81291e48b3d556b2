"""Entropy page: resource-state entropy of the fleet, and why each node has its number.

Everything is read from the derived ``entropy`` and ``fleet_entropy`` series (written hourly by
:func:`twin.jobs.entropy.record_entropy`) through :mod:`twin.jobs.entropy`. The time series
(H(R), state types, the node heatmap) cover the range of the page's picker
(:mod:`dashboard.timerange`, last 24 h by default; zooming one zooms the others); the KPIs,
the table and the scatter stand at the newest entropy hour at or before the range's end, with
its 24 h entropy window. Auto-refresh ticks cost one ``last`` call and redraw the page only when
a new entropy hour has been written (or the range changed). The layout is drawn at once with
placeholders and reads nothing; the first refresh reads the store over the layout's range (it
does not wait for the picker's callback) and draws the KPIs, the table and the charts over
time. The 3-D scatter, the slowest chart for a browser to draw, follows the refresh in its own
callback (and alone on a change of its colouring), so it does not hold up the others. The
hourly rows up to the newest entropy hour and the state of its last hour are kept between
reads (:func:`twin.jobs.entropy.entropy_hours`), so a page load or a redraw for an hour
already read reads only what is new.

**Balance.** A node is out of balance when its combined entropy drifts more than
``DRIFT_THRESHOLD`` bits from H* (cause *drift*) or when it sits idle, state type D (cause
*idle*: capacity wasted, whatever its entropy; an always-idle node has entropy 0, within the
drift threshold of H*). The KPIs show the share out of balance, and idle capacity as its own
card; the table lists the nodes out of balance first, each with its cause, then by drift.

A node's name in the table opens its page (``/node/<id>``).
Clicking a node (a table row, a scatter point or a heatmap row) explains its entropy: its 24
hourly values against the interval edges, the share of hours in each interval and the sum that
gives H, written out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import entropy_figures as efig
from dashboard import ids
from dashboard import timerange as tr
from dashboard.components import GRAPH_CONFIG, graph_panel
from dashboard.components import static_kpi_card as _card
from dashboard.figures import LOADING, empty_figure
from dashboard.links import asset_path
from twin.errors import CnetwinError, StoreError
from twin.jobs.entropy import (
    HOUR,
    WINDOW,
    EntropyParams,
    entropy_hour_state,
    entropy_hours,
    explain_node_dimensions,
    latest_entropy_time,
    read_fleet_entropy,
    read_node_entropy,
)
from twin.models.entropy import (
    DRIFT_THRESHOLD,
    NETWORK_BINS,
    TREND_HOURS,
    balance_cause,
    combined_entropy,
    entropy_sum_text,
    entropy_trend,
)
from twin.views.assets import AssetRef

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = "/entropy"
PICKER = "entropy"
"""The page's name for its time-range picker."""
DEFAULT_RANGE = "-24h"
SERIES_GRAPHS = (ids.ENTROPY_NETWORK, ids.ENTROPY_TYPES, ids.ENTROPY_HEATMAP)
"""The charts over time: they show the picker's range and zoom together."""

TABLE_ROWS = 12
"""Nodes listed in the 'most out of balance' table."""

DIMENSION_LABELS = {"c": "Compute c", "l": "Network l", "s": "Storage s"}

CAUSE_LABELS = {"idle": "idle capacity", "drift": "drift", "": "in balance"}
"""How the table names each balance cause (:func:`twin.models.entropy.balance_cause`)."""


@dataclass(frozen=True)
class EntropyView:
    """What the page shows as of the entropy hour ``at`` (None: nothing computed yet).

    fleet : ``fleet_entropy`` rows of the 24 h up to ``at``; nodes : combined ``entropy`` rows
    of the 24 h up to ``at``; fleet_range, nodes_range : the same series over the picked range,
    per bucket (``window``).
    """

    at: pd.Timestamp | None
    fleet: pd.DataFrame
    nodes: pd.DataFrame
    window: tr.Window
    fleet_range: pd.DataFrame
    nodes_range: pd.DataFrame


def read_view(services: Services, window: tr.Window, at: pd.Timestamp | None) -> EntropyView:
    """The page's data: series over ``window``, the rest as of the entropy hour ``at``, the
    newest at or before its end (:func:`twin.jobs.entropy.latest_entropy_time`; None: none
    yet). The hourly rows up to ``at`` and the state of its last hour are kept between reads
    (``services.windows``), so a redraw for the same hour reads nothing more and a new hour
    reads only that hour. The scatter's data is :func:`read_state`."""
    store, cache = services.store, services.windows
    if at is None:
        empty = pd.DataFrame()
        return EntropyView(None, empty, empty, window, empty, empty)
    start, stop = at - WINDOW + timedelta(hours=1), at + timedelta(seconds=1)
    if window.bucket <= HOUR:  # the range is drawn from the hourly rows too: read both at once
        fleet_all, nodes_all = entropy_hours(store, min(start, window.first_bucket), at, cache)
        fleet, fleet_range = (
            _between(fleet_all, start, stop),
            _between(fleet_all, window.first_bucket, window.end),
        )
        nodes, nodes_range = (
            _between(nodes_all, start, stop),
            _between(nodes_all, window.first_bucket, window.end),
        )
    else:
        fleet, nodes = entropy_hours(store, start, at, cache)
        fleet_range = read_fleet_entropy(store, window.first_bucket, window.end, window.bucket)
        nodes_range = read_node_entropy(
            store, window.first_bucket, window.end, bucket=window.bucket
        )
    return EntropyView(at, fleet, nodes, window, fleet_range, nodes_range)


def read_state(services: Services, at: pd.Timestamp) -> pd.DataFrame:
    """Every node's (c, l, s) [0-1] in the last hour of the entropy hour ``at``'s window, with
    its ``entropy_bits`` [bits] and ``state_type`` at ``at``: what the scatter draws. Read
    after :func:`read_view` for the same hour, it is answered from the hours kept."""
    store, cache = services.store, services.windows
    state = entropy_hour_state(store, at, services.fleet, cache)
    _fleet, nodes = entropy_hours(store, at, at, cache)
    if state.empty or nodes.empty:
        return state
    return state.join(nodes.set_index("id")[["entropy_bits", "state_type"]], on="id")


def _between(rows: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    """The ``rows`` with ``start <= ts < stop`` (UTC), numbered from 0."""
    if rows.empty:
        return rows
    ts = pd.to_datetime(rows["ts"], utc=True)
    return rows[(ts >= start) & (ts < stop)].reset_index(drop=True)


def entropy_matrix(nodes: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Node × hour entropy [bits] from ``entropy`` rows (the mean where a node has several rows
    in an hour); rows in ``order`` then any others, columns the hours (UTC) with a value."""
    known = nodes[nodes["entropy_bits"].notna()] if not nodes.empty else nodes
    if known.empty:
        return pd.DataFrame()
    ids = known["id"].astype(str).to_numpy()
    stamps = pd.DatetimeIndex(pd.to_datetime(known["ts"], utc=True))
    hours = stamps.unique().sort_values()
    found = set(pd.unique(ids))
    rows = [n for n in order if n in found] + sorted(found - set(order))
    cell = pd.Index(rows).get_indexer(pd.Index(ids)) * len(hours) + hours.get_indexer(stamps)
    size = len(rows) * len(hours)
    total = np.bincount(cell, weights=known["entropy_bits"].to_numpy(float), minlength=size)
    count = np.bincount(cell, minlength=size)
    with np.errstate(invalid="ignore"):
        mean = (total / count).reshape(len(rows), len(hours))
    return pd.DataFrame(mean, index=pd.Index(rows, name="id"), columns=hours.rename("ts"))


def out_of_balance(view: EntropyView, rows: int = TABLE_ROWS) -> pd.DataFrame:
    """The nodes most out of balance as of ``view.at``: ``id``, ``site``, ``state_type``,
    ``entropy_bits``, ``drift_bits`` [bits], ``cause`` (idle, drift or "" in balance; module
    docstring) and ``spark`` (24 h entropy sparkline); nodes out of balance first, then by
    drift."""
    columns = ["id", "site", "state_type", "entropy_bits", "drift_bits", "cause"]
    if view.at is None or view.nodes.empty:
        return pd.DataFrame(columns=columns)
    frame = view.nodes.assign(ts=pd.to_datetime(view.nodes["ts"], utc=True))
    latest = frame[frame["ts"] == view.at]
    cause = balance_cause(latest["drift_bits"], latest["state_type"], DRIFT_THRESHOLD)
    latest = latest.assign(cause=cause, balanced=cause == "").sort_values(
        ["balanced", "drift_bits", "id"], ascending=[True, False, True], kind="stable"
    )
    top = latest.head(rows).reset_index(drop=True)
    hours = pd.date_range(view.at - WINDOW + timedelta(hours=1), view.at, freq="1h")
    shown = frame[frame["id"].isin(top["id"])]
    history = entropy_matrix(shown, list(top["id"])).reindex(columns=hours)
    top["spark"] = [efig.sparkline(history.loc[n]) if n in history.index else "" for n in top["id"]]
    return top


def _kpis(view: EntropyView, balance_bits: float) -> list[Component]:
    row = view.fleet.iloc[-1] if not view.fleet.empty else None

    def value(name: str) -> float:
        return (
            float(row[name])
            if row is not None and name in row and row[name] == row[name]
            else math.nan
        )

    trend = math.nan
    if not view.fleet.empty:
        trend = entropy_trend(
            view.fleet.set_index(pd.to_datetime(view.fleet["ts"], utc=True))["network_entropy_bits"]
        )
    as_of = view.at.strftime("%H:%M UTC") if view.at is not None else "—"
    return [
        _card(
            "Network entropy H(R)",
            _num(value("network_entropy_bits")),
            "bits",
            f"fleet spread of node H, at most {math.log2(NETWORK_BINS):g} bits · trend "
            f"{_signed(trend)} bits/h over {TREND_HOURS} h",
        ),
        _card(
            "Balance entropy H*",
            _num(balance_bits),
            "bits",
            "one node's target H, combined (Table 1, type B)",
        ),
        _card(
            "Out of balance",
            _pct(value("out_of_balance_share")),
            "%",
            f"drift: {_pct(value('drifting_share'))} % with |H − H*| > {DRIFT_THRESHOLD:g} bits"
            f" · idle: {_pct(value('idle_share'))} %",
        ),
        _card("Idle capacity", _pct(value("idle_share")), "%", "type D nodes: capacity wasted"),
        _card("Mean drift |H − H*|", _num(value("mean_drift_bits")), "bits", "combined c, l, s"),
        _card("Entropy as of", as_of, "", "window: the 24 h before"),
    ]


def _num(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value * 100:.0f}"


def _signed(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:+.3f}"


def _table(top: pd.DataFrame) -> Component:
    header = html.Tr(
        [html.Th(h) for h in ("Node", "Type", "H [bits]", "|H − H*| [bits]", "Cause", "H, 24 h")]
    )
    body = [
        html.Tr(
            id=ids.entropy_row(str(r["id"])),
            n_clicks=0,
            className=f"entropy-row cause-{r['cause'] or 'none'}",
            title=f"explain {r['id']}",
            children=[
                html.Td(
                    dcc.Link(
                        str(r["id"]),
                        href=asset_path(AssetRef("node", str(r["id"]))),
                        title=f"open {r['id']}'s page",
                    )
                ),
                html.Td(str(r["state_type"])),
                html.Td(_num(float(r["entropy_bits"]))),
                html.Td(_num(float(r["drift_bits"]))),
                html.Td(CAUSE_LABELS[str(r["cause"])], className="cause"),
                html.Td(str(r["spark"]), className="spark"),
            ],
        )
        for r in top.to_dict("records")
    ]
    if not body:
        return html.Div("No node entropy yet", className="entropy-empty")
    return html.Table(className="entropy-table", children=[html.Thead(header), html.Tbody(body)])


NOT_YET = "No entropy computed yet: run `cnetwin entropy backfill --since 24h`"


def _figures(
    view: EntropyView, services: Services, params: EntropyParams, picked: dict[str, Any]
) -> dict[str, Any]:
    order = [n.id for n in services.fleet.nodes]
    if view.at is None:
        blank = empty_figure(NOT_YET)
        return {"network": blank, "types": blank, "heatmap": blank}
    nodes = view.nodes_range
    mean = (
        nodes.assign(ts=pd.to_datetime(nodes["ts"], utc=True)).groupby("ts")["entropy_bits"].mean()
        if not nodes.empty
        else pd.Series(dtype=float)
    )

    def shown(figure: Any) -> Any:
        return tr.show_window(figure, view.window, picked)

    return {
        "network": shown(
            efig.network_entropy_figure(
                view.fleet_range, mean, params.balance_bits, params.threshold
            )
        ),
        "types": shown(efig.type_counts_figure(view.fleet_range)),
        "heatmap": shown(efig.entropy_heatmap_figure(entropy_matrix(nodes, order))),
    }


def layout(context: PageContext) -> Component:
    """The page with placeholder figures over the last 24 h (the URL's range, if it names one,
    follows at once); it reads nothing, its first refresh reads the store and draws them."""
    initial = tr.TimeRange(DEFAULT_RANGE, tr.NOW, tr.refresh_near(context.settings.refresh_s))
    placeholder = empty_figure(LOADING)
    figs = dict.fromkeys(("network", "types", "scatter", "heatmap"), placeholder)
    state = {"at": None, "range": None}
    return html.Div(
        className="entropy",
        children=[
            html.Div(className="entropy-toolbar", children=tr.picker(PICKER, initial)),
            dcc.Store(id=ids.ENTROPY_STATE, data=state),
            dcc.Store(id=ids.ENTROPY_SELECTED, data=None),
            html.Section(id=ids.ENTROPY_KPIS, className="kpis"),
            html.Div(
                className="entropy-grid",
                children=[
                    _panel(
                        "Fleet H(R) and mean node H, combined, each on its own scale",
                        ids.ENTROPY_NETWORK,
                        figs["network"],
                    ),
                    _panel("Nodes per state type", ids.ENTROPY_TYPES, figs["types"]),
                    _panel(
                        "Node entropy H, combined [bits] (click a row)",
                        ids.ENTROPY_HEATMAP,
                        figs["heatmap"],
                    ),
                    html.Section(
                        className="panel",
                        children=[
                            html.H2(
                                "Most out of balance · H combined over c, l, s (click to explain)",
                                className="panel-title",
                            ),
                            html.Div(
                                id=ids.ENTROPY_TABLE,
                                className="entropy-table-box",
                                children=html.Div(LOADING, className="entropy-empty"),
                            ),
                        ],
                    ),
                    _explain_panel(),
                    _scatter_panel(figs["scatter"]),
                ],
            ),
        ],
    )


def content(
    services: Services, view: EntropyView, picked: dict[str, Any], selected: str | None
) -> tuple[Any, ...]:
    """What a refresh draws from ``view``: the KPIs, the network, types and heatmap figures,
    the table, the page state and the node to explain: the most out of balance unless one is
    ``selected`` already (then no update). The scatter follows the page state
    (:func:`scatter_figure`)."""
    params = EntropyParams()
    figs = _figures(view, services, params, picked)
    top = out_of_balance(view)
    first = str(top["id"].iloc[0]) if len(top) else None
    return (
        _kpis(view, params.balance_bits),
        figs["network"],
        figs["types"],
        figs["heatmap"],
        _table(top),
        _state(view, picked),
        no_update if selected else first,
    )


def _state(view: EntropyView, picked: dict[str, Any]) -> dict[str, str | None]:
    """What the page has drawn: the entropy hour (ISO, UTC) and the range (its plotly
    revision). A refresh compares both, so a range change is drawn even if a tick overtook its
    request."""
    return {
        "at": view.at.isoformat() if view.at is not None else None,
        "range": tr.revision(picked),
    }


def scatter_figure(services: Services, at: pd.Timestamp | None, colour_by: str) -> Any:
    """The (c, l, s) scatter of the entropy hour ``at`` (None: none computed), coloured by
    ``colour_by`` (entropy or type)."""
    if at is None:
        return empty_figure(NOT_YET)
    state = read_state(services, at)
    if state.empty:
        return empty_figure("No node state in the last hour")
    return efig.state_scatter_figure(state, colour_by)


def _panel(title: str, graph_id: str, figure: Any, tools: Component | None = None) -> Component:
    heading = html.Div(
        className="entropy-panel-head",
        children=[html.H2(title, className="panel-title"), *([tools] if tools is not None else [])],
    )
    config = tr.ZOOM_CONFIG if graph_id in SERIES_GRAPHS else GRAPH_CONFIG
    return graph_panel(heading, graph_id, figure, config=config)


def _scatter_panel(figure: Any) -> Component:
    """The 3-D scatter's panel. It comes last in the page, so the browser draws the other charts
    before it (a 3-D chart of 1,000 points takes it about a second without a GPU); the style
    sheet places the grid's last panel top right."""
    return _panel(
        "Resource state (c, l, s) · last hour",
        ids.ENTROPY_SCATTER,
        figure,
        tools=dcc.RadioItems(
            id=ids.ENTROPY_COLOUR,
            options=[
                {"label": "colour by entropy", "value": "entropy"},
                {"label": "by state type", "value": "type"},
            ],
            value="entropy",
            inline=True,
            className="entropy-toggle",
        ),
    )


def _explain_panel() -> Component:
    return html.Section(
        className="panel entropy-explain",
        children=[
            html.Div(
                className="entropy-panel-head",
                children=[
                    html.H2(id=ids.ENTROPY_EXPLAIN_TITLE, className="panel-title"),
                    dcc.RadioItems(
                        id=ids.ENTROPY_DIMENSION,
                        options=[{"label": v, "value": k} for k, v in DIMENSION_LABELS.items()],
                        value="c",
                        inline=True,
                        className="entropy-toggle",
                    ),
                ],
            ),
            html.Div(id=ids.ENTROPY_COMBINED, className="entropy-combined"),
            html.Div(id=ids.ENTROPY_SUM, className="entropy-sum"),
            html.Div(
                className="entropy-explain-graphs",
                children=[
                    dcc.Graph(id=ids.ENTROPY_HOURS, config=GRAPH_CONFIG, responsive=True),
                    dcc.Graph(id=ids.ENTROPY_INTERVALS, config=GRAPH_CONFIG, responsive=True),
                ],
            ),
        ],
    )


def explanation(
    services: Services, node: str | None, at: pd.Timestamp | None, dimension: str
) -> tuple[str, str, Any, Any, str]:
    """Title, written-out sum, hourly bars and interval bars that explain ``node``'s entropy
    in ``dimension`` (c, l or s) as of ``at``, and how that dimension's H makes the combined
    H the table lists (the weighted mean of the three dimensions)."""
    if node is None or at is None:
        blank = empty_figure("Click a node to see why its entropy is what it is")
        return "Explain a node", "", blank, blank, ""
    params = EntropyParams()
    every = explain_node_dimensions(services.store, node, at, params)
    why = every[dimension]
    label = DIMENSION_LABELS[dimension]
    title = f"Why H, {label.lower()} = {_num(why.entropy_bits)} bits · {node}"
    return (
        title,
        entropy_sum_text(why.probabilities),
        efig.hours_figure(why.hours, why.edges, label),
        efig.intervals_figure(why.probabilities, why.terms, why.edges),
        combined_text({d: e.entropy_bits for d, e in every.items()}),
    )


def combined_text(bits: dict[str, float]) -> str:
    """How the table's H (combined) comes from the three dimensions' H [bits]: ``H, combined
    = mean of compute c 0.92, network l 0.47, storage s 0.00 = 0.46 bits`` (a dimension
    without values is left out, as :func:`twin.models.entropy.combined_entropy` does)."""
    frame = pd.DataFrame([bits])
    combined = float(combined_entropy(frame).iloc[0])
    parts = ", ".join(f"{DIMENSION_LABELS[d].lower()} {_num(v)}" for d, v in bits.items())
    return (
        f"The table's H is the combined one: mean of {parts} = {_num(combined)} bits. "
        "Below: the dimension chosen on the right."
    )


def register_callbacks(app: Dash, services: Services) -> None:
    """Register the page's callbacks: the picker, refresh, node selection, explanation."""
    tr.register_callbacks(app, PICKER, SERIES_GRAPHS, services.clock)

    @app.callback(
        Output(ids.ENTROPY_KPIS, "children"),
        Output(ids.ENTROPY_NETWORK, "figure"),
        Output(ids.ENTROPY_TYPES, "figure"),
        Output(ids.ENTROPY_HEATMAP, "figure"),
        Output(ids.ENTROPY_TABLE, "children"),
        Output(ids.ENTROPY_STATE, "data"),
        Output(ids.ENTROPY_SELECTED, "data"),
        tr.refresh_input(PICKER),
        tr.range_change_input(PICKER),
        tr.range_state(PICKER),
        State(ids.ENTROPY_STATE, "data"),
        State(ids.ENTROPY_SELECTED, "data"),
    )
    def refresh(
        _n: int | None,
        _set_at: int | None,
        picked: dict[str, Any],
        state: dict[str, Any],
        selected: str | None,
    ) -> tuple[Any, ...]:
        try:
            window = tr.window_of(picked, services.clock(), HOUR)
            at = latest_entropy_time(services.store, window.end)
            drawn = at.isoformat() if at is not None else None
            if (drawn, tr.revision(picked)) == (state.get("at"), state.get("range")):
                raise PreventUpdate  # nothing new: a tick between entropy hours
            view = read_view(services, window, at)
        except StoreError as exc:
            log.warning("store unavailable for the entropy page: %s", exc)
            if state.get("range") is not None:  # keep what is drawn
                raise PreventUpdate from exc
            unavailable = empty_figure(f"Store unavailable: {exc}")
            nothing_drawn = {"at": None, "range": None, "unavailable": str(exc)}  # for the scatter
            return (no_update, *[unavailable] * 3, no_update, nothing_drawn, no_update)
        except CnetwinError as exc:  # a range the picker has already refused
            log.info("entropy page range %s: %s", picked, exc)
            raise PreventUpdate from exc
        return (*content(services, view, picked, selected),)

    @app.callback(
        Output(ids.ENTROPY_SCATTER, "figure"),
        Input(ids.ENTROPY_STATE, "data"),
        Input(ids.ENTROPY_COLOUR, "value"),
    )
    def scatter(state: dict[str, Any], colour_by: str) -> Any:
        if state and state.get("unavailable"):
            return empty_figure(f"Store unavailable: {state['unavailable']}")
        if not state or state.get("range") is None:
            raise PreventUpdate  # the refresh has drawn nothing yet
        at = pd.Timestamp(state["at"]) if state.get("at") else None
        try:
            return scatter_figure(services, at, colour_by or "entropy")
        except StoreError as exc:
            log.warning("store unavailable for the entropy scatter: %s", exc)
            raise PreventUpdate from exc

    @app.callback(
        Output(ids.ENTROPY_SELECTED, "data", allow_duplicate=True),
        Input({"type": ids.ENTROPY_ROW, "node": ALL}, "n_clicks"),
        Input(ids.ENTROPY_SCATTER, "clickData"),
        Input(ids.ENTROPY_HEATMAP, "clickData"),
        prevent_initial_call=True,
    )
    def select(_rows: list[int | None], scatter: Any, heatmap: Any) -> str:
        return selected_node(
            ctx.triggered_id, ctx.triggered[0]["value"] if ctx.triggered else None, scatter, heatmap
        )

    @app.callback(
        Output(ids.ENTROPY_EXPLAIN_TITLE, "children"),
        Output(ids.ENTROPY_SUM, "children"),
        Output(ids.ENTROPY_HOURS, "figure"),
        Output(ids.ENTROPY_INTERVALS, "figure"),
        Output(ids.ENTROPY_COMBINED, "children"),
        Input(ids.ENTROPY_SELECTED, "data"),
        Input(ids.ENTROPY_DIMENSION, "value"),
        Input(ids.ENTROPY_STATE, "data"),
    )
    def explain(node: str | None, dimension: str, state: dict[str, Any]) -> tuple[Any, ...]:
        at = pd.Timestamp(state["at"]) if state and state.get("at") else None
        try:
            return explanation(services, node, at, dimension or "c")
        except StoreError as exc:
            log.warning("store unavailable for the explanation: %s", exc)
            raise PreventUpdate from exc


def selected_node(trigger: Any, value: Any, scatter: Any, heatmap: Any) -> str:
    """The node a click chose: a table row (its id), a scatter point (its customdata) or a
    heatmap cell (its row); PreventUpdate for a row re-drawn without a click."""
    if isinstance(trigger, dict) and trigger.get("type") == ids.ENTROPY_ROW:
        if not value:
            raise PreventUpdate
        return str(trigger["node"])
    if trigger == ids.ENTROPY_SCATTER and scatter and scatter.get("points"):
        return str(scatter["points"][0]["customdata"][0])
    if trigger == ids.ENTROPY_HEATMAP and heatmap and heatmap.get("points"):
        return str(heatmap["points"][0]["y"])
    raise PreventUpdate
