"""What-if page: run a preset under several policies and compare the results side by side.

The run is a Dash background callback (a separate process through a disk-cache manager) with
a progress bar and a Cancel button. Cancel writes a key for the run (page load and click) into
the manager's cache; the run checks it at each progress step and stops without output, so the
previous results stay. The runs belong to the server (:mod:`dashboard.whatif_runs`): inputs
beyond the models' bounds (requests per round and per run, see :mod:`twin.whatif.limits`)
and runs beyond ``whatif_max_runs`` are refused with a message beside the progress bar, a
run whose browser tab has closed is killed once its lease lapses, a run whose page is left for
another page of the app is killed at once (the URL's path is the run's cancel input: Dash's
in-app navigation keeps polling for the result, so the lease alone would keep it alive), and
stopping the server kills every run. The report a run returns (the JSON of
``docs/whatif.md``) is kept in a store and drawn by the pure builders of
:mod:`dashboard.whatif_figures`:

* ``service-routing`` — served against offered, maximum latency, requests refused outside a
  hard latency bound and cost per user and policy, and load per instance under each policy;
* ``ioc-16-nodes`` — TTFT CDFs, TTFT p50/p95 per round, network entropy before and after, and a
  latency-versus-emissions Pareto plot;
* ``carbon-shift`` — the intensity outlook, emissions per hour per plan, an emissions-versus-
  delay Pareto plot and jobs per site; with a storage dispatch other than ``none``, a table of
  each plan's cost and emissions without and with the sites' batteries, the same as a cost-
  versus-emissions plot, and the batteries' state of charge hour by hour.

The form's *DNS TTL [s]* goes to service routing's DNS scheme, *Load advertised every [s]* to
the service-routing, LLM and fork runs (0: live load), *Storage dispatch* to both carbon-shift
runs.

Every result opens with one verdict per policy against the preset's baseline
(:mod:`twin.whatif.verdicts`), each change marked better or worse.

**Fork from stored time** reads what :func:`twin.whatif.fork.read_fork` needs from the
dashboard's store in the server process (where the store's connection lives) at the time in
the "Stored time" field (filled from ``?at=`` in the URL, which the Replay page's fork link
sets), keeps it in the run cache, then simulates every node policy in a run process like
**Run** (:func:`simulate_forks`): a progress bar counts the simulated horizon done, **Cancel
fork** stops it. The table leads with the work done and the work lost to overload, then what
it took, in total and per unit of work; beside it H(R) and mean utilisation c hour by hour.

**Plan carbon shift from stored time** runs what ``cnetwin whatif carbon-shift --at`` runs
(:func:`twin.whatif.carbon_fleet.run_carbon_shift_at` from the inventory's first demand hub,
every shift policy, then :func:`twin.whatif.report.carbon_shift_report`) from the same field
and draws the plans side by side (with why plans kept at a small origin wait), the
carbon-shift panels, the outlook's legend naming each site's source, and the planned against
the realised emissions of each plan. It is an ordinary callback in the server process (a
second or so); its button is disabled while it lasts and an error is written beside it.
"""

from __future__ import annotations

import atexit
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import diskcache
import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate
from plotly import graph_objects as go

from dashboard import ids
from dashboard import whatif_figures as wfig
from dashboard.auth import may_operate
from dashboard.components import GRAPH_CONFIG
from dashboard.whatif_runs import RunManager
from twin.errors import CnetwinError, ConfigError
from twin.whatif.carbon_shift import SHIFT_POLICIES
from twin.whatif.policies import NODE_POLICIES
from twin.whatif.presets import IOC_POLICIES, PRESET_TITLES, PRESETS, SERVICE_NAMES
from twin.whatif.routing import ROUTING_POLICIES
from twin.whatif.storage import DISPATCH_POLICIES
from twin.whatif.verdicts import (
    SAME_ON_EVERY,
    Change,
    carbon_delay_note,
    legend,
    per_work,
    verdicts,
)

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = "/whatif"


PRESET_ALIASES = {
    "service-routing": "the reference scenario: service /yolo, instances s1…s5, users u1 and u2",
    "ioc-16-nodes": "the reference experiment of LLM inference on 16 heterogeneous nodes",
    "carbon-shift": "deferrable training jobs shifted in time and place",
}
"""What each preset is called in docs/whatif.md, shown as the option's tooltip."""
PRESET_POLICIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # preset: (policies offered, policies ticked at first)
    "service-routing": (ROUTING_POLICIES, ROUTING_POLICIES),
    "ioc-16-nodes": (NODE_POLICIES, IOC_POLICIES),
    "carbon-shift": (SHIFT_POLICIES, SHIFT_POLICIES),
}
CANCEL_EXPIRE_S = 3600
"""How long a cancel request is kept [s]."""
RUN_LEASE_S = 10.0
"""A run whose page has not polled for its result for this long is killed [s]."""
READ_ONLY = "Read only: what-if runs need the operator role."

SERVICE_BOUNDS_MS = {"u1": 10.0}
"""Users' latency bounds in the service-routing preset [ms], drawn on the latency chart."""

DNS_TTL_S = 3600
"""The form's DNS TTL at first [s]: the service-routing scenario's."""

DISPATCH_LABELS = {
    "none": "none (no storage)",
    "price": "price · time-of-use",
    "carbon": "carbon · intensity outlook",
}
"""The storage dispatch choices as the form names them."""


def layout(context: PageContext) -> Component:
    """The page: run controls, a progress bar and the result panels."""
    del context
    offered, ticked = PRESET_POLICIES[PRESETS[0]]
    locked = not may_operate()
    return html.Div(
        className="whatif",
        children=[
            html.Div(
                className="whatif-controls",
                children=[
                    _field(
                        "Scenario",
                        dcc.Dropdown(
                            id=ids.WHATIF_PRESET,
                            options=[
                                {
                                    "label": f"{PRESET_TITLES[p]} ({p})",
                                    "value": p,
                                    "title": f"{p}: {PRESET_ALIASES[p]} (docs/whatif.md)",
                                }
                                for p in PRESETS
                            ],
                            value=PRESETS[0],
                            clearable=False,
                            className="whatif-preset",
                        ),
                    ),
                    _field(
                        "Policies",
                        dcc.Checklist(
                            id=ids.WHATIF_POLICIES,
                            options=list(offered),
                            value=list(ticked),
                            inline=True,
                            className="whatif-policies",
                        ),
                    ),
                    _field("Seed", _number(ids.WHATIF_SEED, 0, 0)),
                    _field("Rate step [req/s]", _number(ids.WHATIF_RATE_STEP, 1, 1)),
                    _field("Requests per round", _number(ids.WHATIF_REQUESTS, 1000, 10)),
                    _field("DNS TTL [s]", _number(ids.WHATIF_DNS_TTL, DNS_TTL_S, 1)),
                    _field("Load advertised every [s]", _number(ids.WHATIF_ADVERT, 0, 0)),
                    _field(
                        "Storage dispatch",
                        dcc.Dropdown(
                            id=ids.WHATIF_STORAGE_DISPATCH,
                            options=[
                                {"label": DISPATCH_LABELS[d], "value": d} for d in DISPATCH_POLICIES
                            ],
                            value="none",
                            clearable=False,
                            className="whatif-dispatch",
                        ),
                    ),
                    html.Button(
                        "Run", id=ids.WHATIF_RUN, className="whatif-button", disabled=locked
                    ),
                    html.Button(
                        "Cancel", id=ids.WHATIF_CANCEL, className="whatif-button", disabled=True
                    ),
                    html.Progress(id=ids.WHATIF_PROGRESS, value="0", max="1"),
                    html.Span(id=ids.WHATIF_STATUS, className="whatif-status"),
                    html.Span(id=ids.WHATIF_REFUSAL, className="whatif-status"),
                    _field(
                        "Stored time (UTC)",
                        dcc.Input(
                            id=ids.WHATIF_AT,
                            type="text",
                            placeholder="2026-11-21T03:00:00Z or -6h",
                            className="whatif-num whatif-at",
                        ),
                    ),
                    _field("Horizon [h]", _number(ids.WHATIF_HORIZON, 6, 1)),
                    html.Button(
                        "Fork from stored time",
                        id=ids.WHATIF_FORK,
                        className="whatif-button",
                        disabled=locked,
                    ),
                    html.Button(
                        "Cancel fork",
                        id=ids.WHATIF_FORK_CANCEL,
                        className="whatif-button",
                        disabled=True,
                    ),
                    html.Progress(
                        id=ids.WHATIF_FORK_PROGRESS,
                        value="0",
                        max="1",
                        title="share of the simulated horizon done, over every policy",
                    ),
                    html.Span(id=ids.WHATIF_FORK_STATUS, className="whatif-status"),
                    html.Span(id=ids.WHATIF_FORK_RUNNING, className="whatif-status"),
                    html.Span(id=ids.WHATIF_FORK_REFUSAL, className="whatif-status"),
                    html.Button(
                        "Plan carbon shift from stored time",
                        id=ids.WHATIF_CARBON_AT,
                        className="whatif-button",
                        disabled=locked,
                    ),
                    html.Span(id=ids.WHATIF_CARBON_AT_STATUS, className="whatif-status"),
                ],
            ),
            dcc.Store(id=ids.WHATIF_RESULT),
            dcc.Store(id=ids.WHATIF_FORK_RESULT),
            dcc.Store(id=ids.WHATIF_FORK_READY),
            dcc.Store(id=ids.WHATIF_CARBON_AT_RESULT),
            dcc.Store(id=ids.WHATIF_SESSION, data=uuid.uuid4().hex),
            html.Div(id=ids.WHATIF_VERDICTS, className="whatif-verdicts"),
            html.Div(
                id=ids.WHATIF_PANELS,
                className="whatif-grid",
                children=[
                    _hint(READ_ONLY if locked else "Choose a scenario and policies, then Run.")
                ],
            ),
        ],
    )


def _field(label: str, control: Component) -> Component:
    return html.Label(className="whatif-field", children=[html.Span(label), control])


def _number(component_id: str, value: int, minimum: int) -> Component:
    return dcc.Input(
        id=component_id, type="number", value=value, min=minimum, step=1, className="whatif-num"
    )


def _hint(text: str) -> Component:
    return html.Div(text, className="whatif-hint")


def cancel_key(session: str, run_clicks: int | None) -> str:
    """The cache key that asks the run started by click ``run_clicks`` of a page load
    (``session``) to stop."""
    return f"whatif-cancel:{session}:{run_clicks or 0}"


def cancellable(
    cache: Any, token: str, set_progress: Callable[[tuple[str, str]], None]
) -> Callable[[int, int], None]:
    """A run's ``progress(done, total)``: shown on the page's bar, and the run stopped
    (PreventUpdate: no output, so the previous panels stay) once ``token`` is set in
    ``cache`` by a Cancel button."""

    def progress(done: int, total: int) -> None:
        if cache.get(token):
            raise PreventUpdate
        set_progress((str(done), str(total)))

    return progress


def run_preset(
    preset: str,
    policies: list[str],
    seed: int,
    rate_step: int,
    requests: int,
    progress: Callable[[int, int], None],
    dns_ttl_s: float = DNS_TTL_S,
    advert_s: float = 0.0,
    dispatch: str = "none",
) -> dict[str, Any]:
    """Run ``preset`` and return ``{"preset", "report"}`` (+ ``"cdf"`` for ioc-16-nodes).

    dns_ttl_s [s]: service routing's DNS cache time; advert_s [s]: load advertised that often
    (service routing, ioc-16-nodes; 0: live); dispatch: carbon-shift's storage dispatch.
    ConfigError for a TTL that is not positive or a negative advertisement interval."""
    from twin.whatif import report as rep
    from twin.whatif.presets import run_carbon_shift, run_ioc, service_routing
    from twin.whatif.routing import sweep, with_options

    if dns_ttl_s <= 0:
        raise ConfigError("DNS TTL must be positive [s]")
    if advert_s < 0:
        raise ConfigError("the load advertisement interval must be 0 (live load) or more [s]")
    if preset == "service-routing":
        rates = list(range(1, 121, max(rate_step, 1)))
        scenario = with_options(service_routing(), dns_ttl_s=dns_ttl_s, advert_s=advert_s)
        result = sweep(scenario, policies, rates, seed, progress)  # type: ignore[arg-type]
        report = rep.service_routing_report(result) | {"names": dict(SERVICE_NAMES)}
        return {"preset": preset, "report": report}
    if preset == "ioc-16-nodes":
        run = run_ioc(
            policies, seed=seed, requests=max(requests, 1), progress=progress, advert_s=advert_s
        )
        return {"preset": preset, "report": rep.ioc_report(run, seed), "cdf": rep.ttft_cdf(run)}
    if preset == "carbon-shift":
        progress(0, 1)
        report = rep.carbon_shift_report(run_carbon_shift(policies, seed, dispatch), seed)
        progress(1, 1)
        return {"preset": preset, "report": report}
    raise ValueError(f"unknown preset {preset!r}")


def fork_time_query(search: str | None, now: datetime) -> str | None:
    """The ``at`` of a URL query string (``?at=2026-11-21T03:10:00Z``, an offset from ``now``
    like ``-6h`` or a naive time read as UTC) as ``YYYY-MM-DDTHH:MM:SSZ``; None if absent or
    not a time."""
    from twin.durations import parse_time

    values = parse_qs((search or "").lstrip("?")).get("at")
    if not values:
        return None
    text = values[-1].strip().replace(" ", "+")  # an unescaped "+hh:mm" offset arrives as " "
    try:
        return parse_time(text, now).strftime("%Y-%m-%dT%H:%M:%SZ")
    except CnetwinError:
        return None


def stored_time_run(
    n_clicks: int | None, at: str | None, hint: str, run: Callable[[str], Any]
) -> tuple[Any, str]:
    """A stored-time button's outcome: ``run(at)`` and no message, or no update and ``hint``
    when no time is given, or the reason it cannot run (a CnetwinError's message)."""
    if not n_clicks:
        raise PreventUpdate
    if not at:
        return no_update, hint
    try:
        return run(at), ""
    except CnetwinError as exc:
        return no_update, str(exc)


def run_fork(
    services: Services, at: str, horizon_h: int, seed: int, advert_s: float = 0.0
) -> dict[str, Any]:
    """Fork the stored fleet at ``at`` (ISO time or offset) over ``horizon_h`` [h] under every
    node policy, deciding on load advertised every ``advert_s`` [s] (0: live), in this process:
    ``{"preset": "fork", "report": comparison}``; CnetwinError if it cannot."""
    inputs = read_fork_inputs(services, at, horizon_h)
    return simulate_forks(inputs, seed, lambda done, total: None, advert_s)


def read_fork_inputs(services: Services, at: str, horizon_h: int) -> Any:
    """What a fork at ``at`` (ISO time or offset) over ``horizon_h`` [h] reads from the
    dashboard's store (:func:`twin.whatif.fork.read_fork`); CnetwinError if it cannot."""
    from twin.durations import parse_time
    from twin.whatif.fork import read_fork

    when = parse_time(at.strip(), services.clock())
    return read_fork(services.store, services.fleet, when, timedelta(hours=horizon_h))


FORK_STEPS = 100
"""Progress steps per policy of a fork (each a share of its simulated horizon)."""


def simulate_forks(
    inputs: Any, seed: int, progress: Callable[[int, int], None], advert_s: float = 0.0
) -> dict[str, Any]:
    """Every node policy forward from ``inputs`` (:func:`read_fork_inputs`), needing no store:
    ``{"preset": "fork", "report": comparison}``, deciding on load advertised every
    ``advert_s`` [s] (0: live). ``progress(done, total)`` counts the simulated horizon done
    over every policy in :data:`FORK_STEPS` per policy."""
    from twin.whatif.fork import comparison_json, simulate_fork
    from twin.whatif.policies import make_policy

    total = FORK_STEPS * len(NODE_POLICIES)
    progress(0, total)
    reports = []
    for k, name in enumerate(NODE_POLICIES):

        def share_done(share: float, k: int = k) -> None:
            progress(k * FORK_STEPS + round(share * FORK_STEPS), total)

        reports.append(
            simulate_fork(inputs, make_policy(name), seed, share_done, advert_s=advert_s)
        )
    return {"preset": "fork", "report": comparison_json(reports)}


def fork_input_key(session: str, fork_clicks: int | None) -> str:
    """The cache key of what the fork started by click ``fork_clicks`` of a page load
    (``session``) read from the store."""
    return f"whatif-fork-input:{session}:{fork_clicks or 0}"


def fork_cancel_key(session: str, fork_clicks: int | None) -> str:
    """The cache key that asks the fork started by click ``fork_clicks`` of a page load
    (``session``) to stop."""
    return f"whatif-fork-cancel:{session}:{fork_clicks or 0}"


def run_carbon_at(services: Services, at: str, seed: int, dispatch: str = "none") -> dict[str, Any]:
    """Plan the carbon shift on the stored fleet as known at ``at`` (ISO time or offset) under
    every shift policy, from the inventory's first demand hub, the inventory's batteries run
    under ``dispatch``, as ``cnetwin whatif carbon-shift --at`` does: ``{"preset":
    "carbon-shift", "report": report}`` with the stored plan's keys (``at``,
    ``outlook_source``, ``realised`` …); CnetwinError if it cannot."""
    from twin.durations import parse_time
    from twin.whatif.carbon_fleet import run_carbon_shift_at
    from twin.whatif.report import carbon_shift_report

    when = parse_time(at.strip(), services.clock())
    stored = run_carbon_shift_at(
        services.store, services.fleet, when, SHIFT_POLICIES, seed, dispatch=dispatch
    )
    return {"preset": "carbon-shift", "report": carbon_shift_report(stored, seed)}


def _side_value(key: str, sub: str | None = None) -> Callable[[dict[str, Any]], float | None]:
    return lambda side: side[key][sub] if sub else side.get(key)


def _per_work(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda side: per_work(side.get(key), side.get("work_node_h"))


FORK_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], float | None], int], ...] = (
    ("work done [node-h at full compute]", _side_value("work_node_h"), 1),
    ("work lost to overload [node-h]", _side_value("unserved_node_h"), 1),
    ("mean c utilisation [0-1]", _side_value("mean_util", "c"), 2),
    ("mean l utilisation [0-1]", _side_value("mean_util", "l"), 2),
    ("mean s utilisation [0-1]", _side_value("mean_util", "s"), 2),
    ("H(R) at the end [bits]", _side_value("network_entropy_bits"), 2),
    ("drifting share [0-1]", _side_value("drifting_share"), 2),
    ("energy, modelled [kWh]", _side_value("energy_kwh"), 0),
    ("emissions, modelled [kgCO2]", _side_value("modelled_emissions_kg"), 2),
    ("emissions [kgCO2]", _side_value("emissions_kg"), 2),
    ("energy cost, modelled [CNY]", _side_value("cost_cny"), 2),
    ("energy per work [kWh per node-h]", _per_work("energy_kwh"), 2),
    ("emissions per work [kgCO2 per node-h]", _per_work("modelled_emissions_kg"), 3),
    ("cost per work [CNY per node-h]", _per_work("cost_cny"), 2),
)
"""Rows of the fork table: label (with unit), value of a side, decimals. Work is compute
delivered: the sum over node-hours of c, so one node fully busy for an hour is 1 node-h;
work lost is compute demanded beyond a node's capacity (the simulated side only)."""


def fork_table(report: dict[str, Any]) -> Component:
    """What actually happened next beside each policy's simulated horizon: the work done
    first, then what it took (totals, then per unit of work, so a side that spends less by
    doing less does not read as cheaper)."""
    sides = [("actual", report["actual"])] if report["actual"] else []
    sides += [(name, entry["simulated"]) for name, entry in report["policies"].items()]

    actual = len(sides) - len(report["policies"])
    tasks = ["—"] * actual + [f"{e['tasks']:,}" for e in report["policies"].values()]
    saturated = ["—"] * actual
    saturated += [f"{e['saturated_share']:,.2f}" for e in report["policies"].values()]

    def cell(value: float | None, digits: int) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    return html.Table(
        className="energy-table whatif-fork-table",
        children=[
            html.Thead(html.Tr([html.Th(""), *(html.Th(name) for name, _ in sides)])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(label),
                            *(html.Td(cell(value(side), digits)) for _, side in sides),
                        ]
                    )
                    for label, value, digits in FORK_ROWS
                ]
                + [
                    html.Tr([html.Td("tasks placed [count]"), *map(html.Td, tasks)]),
                    html.Tr([html.Td("saturated node-time [0-1]"), *map(html.Td, saturated)]),
                ]
            ),
        ],
    )


CARBON_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], float | None], int], ...] = (
    ("jobs [count]", lambda e: e["jobs"], 0),
    ("jobs on time [count]", lambda e: e["jobs"] - e["deadline_misses"], 0),
    ("deadline misses [count]", lambda e: e["deadline_misses"], 0),
    ("mean start delay [h]", lambda e: e["mean_delay_h"], 1),
    ("energy [kWh]", lambda e: e["energy_kwh"], 0),
    ("of which data transfer [kWh]", lambda e: e["transfer_kwh"], 0),
    ("emissions [kgCO2]", lambda e: e["emissions_kg"], 0),
    ("energy cost [CNY]", lambda e: e["cost_cny"], 0),
    ("emissions per job [kgCO2]", lambda e: per_work(e["emissions_kg"], e["jobs"]), 1),
    ("cost per job [CNY]", lambda e: per_work(e["cost_cny"], e["jobs"]), 1),
)
"""Rows of the carbon-shift table: label (with unit), value of a plan, decimals."""


def carbon_table(report: dict[str, Any]) -> Component:
    """Each plan's jobs, delay, energy, emissions and cost side by side; under it, why the
    plans that keep the jobs at home wait as long as they do, when they wait beyond the
    slack (:func:`twin.whatif.verdicts.carbon_delay_note`)."""
    plans = report["policies"]

    def cell(value: float | None, digits: int) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    note = carbon_delay_note(report)
    return html.Div(
        children=[
            html.Table(
                className="energy-table whatif-carbon-table",
                children=[
                    html.Thead(html.Tr([html.Th(""), *(html.Th(name) for name in plans)])),
                    html.Tbody(
                        [
                            html.Tr(
                                [
                                    html.Td(label),
                                    *(html.Td(cell(value(e), digits)) for e in plans.values()),
                                ]
                            )
                            for label, value, digits in CARBON_ROWS
                        ]
                    ),
                ],
            ),
            *([html.P(note, className="whatif-note")] if note else []),
        ]
    )


def verdict_block(result: dict[str, Any]) -> list[Component]:
    """One line per policy against the preset's baseline, each change marked better (▲) or
    worse (▼) (:func:`twin.whatif.verdicts.verdicts`); nothing for a single policy."""
    lines = verdicts(result)
    if not lines:
        return []
    return [
        html.Ul(
            className="whatif-verdict-lines",
            children=[
                html.Li(
                    className="whatif-verdict",
                    children=[
                        html.B(f"{v.policy} vs {v.baseline}: "),
                        *(
                            [html.Span(SAME_ON_EVERY, className="verdict-same")]
                            if all(c.better is None for c in v.changes)
                            else _joined(_change_spans(c) for c in v.changes)
                        ),
                    ],
                )
                for v in lines
            ],
        ),
        html.Div(legend(), className="whatif-verdict-legend"),
    ]


def _change_spans(change: Change) -> Component:
    """One change, coloured by its direction; its per-work aside coloured by its own."""
    main = html.Span(change.marked(), className=_verdict_class(change))
    if change.aside is None:
        return main
    aside = html.Span(str(change.aside), className=_verdict_class(change.aside))
    return html.Span([main, " (", aside, ")"])


def _verdict_class(change: Change) -> str:
    if change.better is None:
        return "verdict-same"
    return "verdict-better" if change.better else "verdict-worse"


def _joined(parts: Iterable[Component]) -> list[Component | str]:
    out: list[Component | str] = []
    for part in parts:
        if out:
            out.append(" · ")
        out.append(part)
    return out


def panels(result: dict[str, Any]) -> list[Component]:
    """The result panels of one run: titled graphs built from its report."""
    report = result["report"]
    preset = result["preset"]
    if preset == "fork":
        before = report["before"]["network_entropy_bits"]
        title = (
            f"Fork at {report['at']} · {report['horizon_h']} h · {report['nodes']} nodes · "
            f"H(R) before {'—' if before is None else f'{before:.2f}'} bits"
        )
        table = html.Div(
            className="panel whatif-fork",
            children=[
                html.Div(title, className="panel-title"),
                html.Div(className="energy-table-box", children=fork_table(report)),
            ],
        )
        graphs = [
            ("Network entropy H(R) hour by hour, per side", wfig.fork_entropy_figure(report)),
            ("Mean compute utilisation c per hour, per side", wfig.fork_util_figure(report)),
        ]
        return [table, *_graph_panels(graphs)]
    if preset == "service-routing":
        graphs = [
            ("Served vs offered, per user", wfig.served_figure(report)),
            ("Maximum latency, per user", wfig.max_latency_figure(report, SERVICE_BOUNDS_MS)),
            ("Refused outside the latency bound, per user", wfig.refused_figure(report)),
            ("Cost per user", wfig.cost_figure(report)),
            *(
                (
                    f"Load per instance, by site · {policy}",
                    wfig.instance_load_figure(report, policy),
                )
                for policy in report["policies"]
            ),
        ]
    elif preset == "ioc-16-nodes":
        graphs = [
            ("Time to first token: distribution per round", wfig.ttft_cdf_figure(result["cdf"])),
            ("TTFT p50 and p95 per round", wfig.ttft_rounds_figure(report)),
            ("Network entropy before and after", wfig.entropy_figure(report)),
            (
                "Latency vs emissions",
                wfig.pareto_figure(wfig.ioc_pareto_points(report), "TTFT p95 [ms]", log_x=True),
            ),
            (
                "Energy cost vs emissions, per round",
                wfig.pareto_figure(wfig.ioc_cost_points(report), "energy cost [CNY]"),
            ),
        ]
    else:
        table = html.Div(
            className="panel whatif-carbon",
            children=[
                html.Div("Plans side by side", className="panel-title"),
                html.Div(className="energy-table-box", children=carbon_table(report)),
            ],
        )
        graphs = [
            (_outlook_title(report), wfig.intensity_figure(report)),
            ("Emissions per hour of each plan", wfig.hourly_emissions_figure(report)),
            (
                "Emissions vs delay",
                wfig.pareto_figure(wfig.carbon_pareto_points(report), "mean start delay [h]"),
            ),
            (
                "Emissions vs energy cost",
                wfig.pareto_figure(wfig.carbon_cost_points(report), "energy cost [CNY]"),
            ),
            (_jobs_title(report), wfig.jobs_per_site_figure(report)),
        ]
        if "at" in report:
            graphs.append(("Planned vs realised emissions", wfig.planned_realised_figure(report)))
        return [table, *_graph_panels(graphs), *storage_section(report)]
    return _graph_panels(graphs)


STORAGE_ROWS: tuple[tuple[str, str], ...] = (
    ("emissions without storage [kgCO2]", "emissions_without_kg"),
    ("emissions with storage [kgCO2]", "emissions_with_kg"),
    ("cost without storage [CNY]", "cost_without_cny"),
    ("cost with storage [CNY]", "cost_with_cny"),
    ("drawn to charge [kWh]", "charged_kwh"),
    ("delivered [kWh]", "discharged_kwh"),
    ("lost [kWh]", "losses_kwh"),
)
"""Rows of the storage table: label, key of a policy's ``storage`` entry."""


def storage_section(report: dict[str, Any]) -> list[Component]:
    """The carbon-shift storage panels when the batteries ran (dispatch other than none): a
    table of each plan without and with them, a cost-versus-emissions plot and the state of
    charge under the plan that used them most; nothing otherwise."""
    storage = report.get("storage")
    if not storage or storage["dispatch"] == "none":
        return []
    policies = report["policies"]
    sizes = ", ".join(
        f"{site} {b['capacity_kwh']:,.0f} kWh / {b['power_kw']:,.0f} kW"
        for site, b in storage["batteries"].items()
    )

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:,.0f}"

    table = html.Table(
        className="energy-table whatif-storage-table",
        children=[
            html.Thead(html.Tr([html.Th(""), *(html.Th(name) for name in policies)])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(label),
                            *(html.Td(cell(e["storage"][key])) for e in policies.values()),
                        ],
                        className="whatif-storage-with" if "_with_" in key else None,
                    )
                    for label, key in STORAGE_ROWS
                ]
            ),
        ],
    )
    title = f"Storage · {storage['dispatch']} dispatch · {sizes or 'no batteries'}"
    busiest = max(policies, key=lambda p: policies[p]["storage"]["discharged_kwh"])
    return [
        html.Div(
            className="panel whatif-storage",
            children=[
                html.Div(title, className="panel-title"),
                html.Div(className="energy-table-box", children=table),
            ],
        ),
        *_graph_panels(
            [
                (
                    "Cost vs emissions · open: without storage, filled: with",
                    wfig.storage_tradeoff_figure(report),
                ),
                (
                    f"Battery state of charge · {busiest}",
                    wfig.storage_soc_figure(report, busiest),
                ),
            ]
        ),
    ]


def _outlook_title(report: dict[str, Any]) -> str:
    """The outlook panel's title; a plan on the store says when it was made (UTC) and when
    its hour 0 is."""
    if "at" not in report:
        return "Carbon intensity outlook per site"
    at, start = pd.Timestamp(report["at"]), pd.Timestamp(report["start"])
    return (
        f"Carbon intensity outlook per site · known at {at:%Y-%m-%d %H:%M} UTC, "
        f"hour 0 at {start:%H:%M}"
    )


def _jobs_title(report: dict[str, Any]) -> str:
    """The jobs panel's title; a plan on the store names the origin the jobs arrive at."""
    return f"Jobs per site · origin {report['origin']}" if "origin" in report else "Jobs per site"


def grid_class(preset: str) -> str:
    """The panel grid's classes for a result of ``preset`` (``whatif-grid-<preset>`` lets the
    style sheet lay out each preset's panels)."""
    return f"whatif-grid whatif-grid-{preset}"


def _graph_panels(graphs: list[tuple[str, go.Figure]]) -> list[Component]:
    """One titled panel per (title, figure)."""
    return [
        html.Div(
            className="panel",
            children=[
                html.Div(title, className="panel-title"),
                html.Div(
                    className="graph-box",
                    children=dcc.Graph(figure=fig, config=GRAPH_CONFIG, style={"height": "100%"}),
                ),
            ],
        )
        for title, fig in graphs
    ]


def register_callbacks(app: Dash, services: Services) -> None:
    """The page's callbacks: policy choices per preset, the background run, the fork and the
    carbon-shift plan from stored time, the panels."""
    cache = diskcache.Cache(tempfile.mkdtemp(prefix="cnetwin-whatif-"))
    manager = RunManager(
        cache, services.whatif_max_runs, lambda refusal: [no_update, refusal], RUN_LEASE_S
    )
    atexit.register(manager.stop_all)

    @app.callback(
        Output(ids.WHATIF_POLICIES, "options"),
        Output(ids.WHATIF_POLICIES, "value"),
        Input(ids.WHATIF_PRESET, "value"),
        prevent_initial_call=True,
    )
    def choices(preset: str) -> tuple[list[str], list[str]]:
        offered, ticked = PRESET_POLICIES[preset]
        return list(offered), list(ticked)

    @app.callback(
        Output(ids.WHATIF_RESULT, "data"),
        Output(ids.WHATIF_REFUSAL, "children"),
        Input(ids.WHATIF_RUN, "n_clicks"),
        State(ids.WHATIF_SESSION, "data"),
        State(ids.WHATIF_PRESET, "value"),
        State(ids.WHATIF_POLICIES, "value"),
        State(ids.WHATIF_SEED, "value"),
        State(ids.WHATIF_RATE_STEP, "value"),
        State(ids.WHATIF_REQUESTS, "value"),
        State(ids.WHATIF_DNS_TTL, "value"),
        State(ids.WHATIF_ADVERT, "value"),
        State(ids.WHATIF_STORAGE_DISPATCH, "value"),
        background=True,
        manager=manager,
        progress=[Output(ids.WHATIF_PROGRESS, "value"), Output(ids.WHATIF_PROGRESS, "max")],
        cancel=[Input(ids.URL, "pathname")],  # in-app navigation away ends the run at once
        running=[
            (Output(ids.WHATIF_RUN, "disabled"), True, False),
            (Output(ids.WHATIF_CANCEL, "disabled"), False, True),
            (Output(ids.WHATIF_STATUS, "children"), "running…", ""),
        ],
        prevent_initial_call=True,
    )
    def run(
        set_progress: Callable[[tuple[str, str]], None],
        n_clicks: int | None,
        session: str,
        preset: str,
        policies: list[str] | None,
        seed: int | None,
        rate_step: int | None,
        requests: int | None,
        dns_ttl_s: float | None,
        advert_s: float | None,
        dispatch: str | None,
    ) -> tuple[Any, str]:
        if not n_clicks or not policies:
            raise PreventUpdate
        chosen = [p for p in PRESET_POLICIES[preset][0] if p in policies]
        progress = cancellable(cache, cancel_key(session, n_clicks), set_progress)
        set_progress(("0", "1"))  # a fresh bar for this run
        try:
            result = run_preset(
                preset,
                chosen,
                int(seed or 0),
                int(rate_step or 1),
                int(requests or 1000),
                progress,
                dns_ttl_s=float(DNS_TTL_S if dns_ttl_s is None else dns_ttl_s),
                advert_s=float(advert_s or 0),
                dispatch=dispatch or "none",
            )
        except CnetwinError as exc:  # inputs beyond their bounds
            return no_update, f"refused: {exc}"
        return result, ""

    @app.callback(
        Input(ids.WHATIF_CANCEL, "n_clicks"),
        State(ids.WHATIF_SESSION, "data"),
        State(ids.WHATIF_RUN, "n_clicks"),
        prevent_initial_call=True,
    )
    def cancel(_n: int | None, session: str, run_clicks: int | None) -> None:
        cache.set(cancel_key(session, run_clicks), True, expire=CANCEL_EXPIRE_S)

    @app.callback(Output(ids.WHATIF_AT, "value"), Input(ids.URL, "search"))
    def fork_time(search: str | None) -> str:
        at = fork_time_query(search, services.clock())
        if at is None:
            raise PreventUpdate
        return at

    @app.callback(
        Output(ids.WHATIF_FORK_READY, "data"),
        Output(ids.WHATIF_FORK_STATUS, "children"),
        Input(ids.WHATIF_FORK, "n_clicks"),
        State(ids.WHATIF_SESSION, "data"),
        State(ids.WHATIF_AT, "value"),
        State(ids.WHATIF_HORIZON, "value"),
        prevent_initial_call=True,
    )
    def fork_read(
        n_clicks: int | None, session: str, at: str | None, horizon_h: int | None
    ) -> tuple[Any, str]:
        """Read the store here, where its connection lives; the simulation then runs in a
        run process (``fork_simulate``) from what was read."""

        def read(when: str) -> int:
            inputs = read_fork_inputs(services, when, int(horizon_h or 6))
            cache.set(fork_input_key(session, n_clicks), inputs, expire=CANCEL_EXPIRE_S)
            return int(n_clicks or 0)

        return stored_time_run(n_clicks, at, "enter a time to fork from", read)

    @app.callback(
        Output(ids.WHATIF_FORK_RESULT, "data"),
        Output(ids.WHATIF_FORK_REFUSAL, "children"),
        Input(ids.WHATIF_FORK_READY, "data"),
        State(ids.WHATIF_SESSION, "data"),
        State(ids.WHATIF_SEED, "value"),
        State(ids.WHATIF_ADVERT, "value"),
        background=True,
        manager=manager,
        progress=[
            Output(ids.WHATIF_FORK_PROGRESS, "value"),
            Output(ids.WHATIF_FORK_PROGRESS, "max"),
        ],
        cancel=[Input(ids.URL, "pathname")],  # in-app navigation away ends the fork at once
        running=[
            (Output(ids.WHATIF_FORK, "disabled"), True, False),
            (Output(ids.WHATIF_FORK_CANCEL, "disabled"), False, True),
            (Output(ids.WHATIF_FORK_RUNNING, "children"), "simulating every policy…", ""),
        ],
        prevent_initial_call=True,
    )
    def fork_simulate(
        set_progress: Callable[[tuple[str, str]], None],
        fork_clicks: int | None,
        session: str,
        seed: int | None,
        advert_s: float | None,
    ) -> tuple[Any, str]:
        if not fork_clicks:
            raise PreventUpdate
        inputs = cache.get(fork_input_key(session, fork_clicks))
        if inputs is None:
            return no_update, "refused: the fork's store reading has expired; fork again"
        progress = cancellable(cache, fork_cancel_key(session, fork_clicks), set_progress)
        return simulate_forks(inputs, int(seed or 0), progress, float(advert_s or 0)), ""

    @app.callback(
        Input(ids.WHATIF_FORK_CANCEL, "n_clicks"),
        State(ids.WHATIF_SESSION, "data"),
        State(ids.WHATIF_FORK_READY, "data"),
        prevent_initial_call=True,
    )
    def fork_cancel(_n: int | None, session: str, fork_clicks: int | None) -> None:
        cache.set(fork_cancel_key(session, fork_clicks), True, expire=CANCEL_EXPIRE_S)

    @app.callback(
        Output(ids.WHATIF_CARBON_AT_RESULT, "data"),
        Output(ids.WHATIF_CARBON_AT_STATUS, "children"),
        Input(ids.WHATIF_CARBON_AT, "n_clicks"),
        State(ids.WHATIF_AT, "value"),
        State(ids.WHATIF_SEED, "value"),
        State(ids.WHATIF_STORAGE_DISPATCH, "value"),
        running=[(Output(ids.WHATIF_CARBON_AT, "disabled"), True, False)],
        prevent_initial_call=True,
    )
    def carbon_at(
        n_clicks: int | None, at: str | None, seed: int | None, dispatch: str | None
    ) -> tuple[Any, str]:
        return stored_time_run(
            n_clicks,
            at,
            "enter a stored time to plan from",
            lambda when: run_carbon_at(services, when, int(seed or 0), dispatch or "none"),
        )

    @app.callback(
        Output(ids.WHATIF_PANELS, "children"),
        Output(ids.WHATIF_PANELS, "className"),
        Output(ids.WHATIF_VERDICTS, "children"),
        Input(ids.WHATIF_RESULT, "data"),
        Input(ids.WHATIF_FORK_RESULT, "data"),
        Input(ids.WHATIF_CARBON_AT_RESULT, "data"),
        prevent_initial_call=True,
    )
    def draw(
        result: dict[str, Any] | None,
        forked: dict[str, Any] | None,
        planned: dict[str, Any] | None,
    ) -> tuple[list[Component], str, list[Component]]:
        latest = {ids.WHATIF_FORK_RESULT: forked, ids.WHATIF_CARBON_AT_RESULT: planned}.get(
            str(ctx.triggered_id), result
        )
        if not latest:
            raise PreventUpdate
        return panels(latest), grid_class(latest["preset"]), verdict_block(latest)
