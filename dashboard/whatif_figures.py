"""Pure figure builders of the What-if page: a report dict (``docs/whatif.md``) in, Figure out.

Each policy keeps one colour on every chart of a run (:func:`policy_colour`); units are on every
axis. Builders never read files or the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from dashboard.figures import MUTED, base_layout, empty_figure, site_colour
from twin.whatif.presets import display_name

POLICY_COLOURS: Mapping[str, str] = {
    "dns": "#fab005",
    "anycast": "#fa5252",
    "url-path": "#15aabf",
    "entropy-balanced": "#15aabf",
    "nearest": "#fa5252",
    "least-loaded": "#fab005",
    "round-robin": "#be4bdb",
    "run-now": "#fa5252",
    "time-shift": "#fab005",
    "space-shift": "#be4bdb",
    "carbon-aware": "#51cf66",
}
USER_DASH = ("solid", "dot", "dash", "dashdot")


def policy_colour(policy: str) -> str:
    """The colour of ``policy`` on every chart (grey for a policy without one)."""
    return POLICY_COLOURS.get(policy, MUTED)


def _legend_top() -> dict[str, Any]:
    return {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 13}}


# service routing --------------------------------------------------------------------------------


def _per_user_lines(fig: go.Figure, report: Mapping[str, Any], key: str) -> float:
    """One line per policy and user of ``users[user][key]`` against the offered rate [req/s]
    (colour: policy, dash: user); returns the highest offered rate [req/s]."""
    top = 0.0
    names = report.get("names", {})
    for policy, points in report["policies"].items():
        users = list(points[0]["users"]) if points else []
        for k, user in enumerate(users):
            x = [p["offered_rps"] for p in points]
            top = max(top, *x)
            fig.add_scatter(
                x=x, y=[p["users"][user][key] for p in points], mode="lines",
                name=f"{policy} · {display_name(names, user, alias=False)}",
                hovertemplate=f"{policy} · {display_name(names, user)}<br>"
                "%{x:g} req/s offered: %{y:,.2f}<extra></extra>",
                line={"color": policy_colour(policy), "dash": USER_DASH[k % 4], "width": 3},
            )  # fmt: skip
    return top


def _per_user_figure(report: Mapping[str, Any], key: str, y_title: str) -> tuple[go.Figure, float]:
    """A figure of :func:`_per_user_lines` of ``key`` with its axes titled; returns it and the
    highest offered rate [req/s]."""
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    top = _per_user_lines(fig, report, key)
    fig.update_xaxes(title_text="offered per user [req/s]")
    fig.update_yaxes(title_text=y_title)
    return fig, top


def served_figure(report: Mapping[str, Any]) -> go.Figure:
    """Served [req/s] against offered [req/s] per user and policy, with served = offered."""
    if not any(report["policies"].values()):
        return empty_figure("no rates run")
    fig, top = _per_user_figure(report, "served_rps", "served [req/s]")
    fig.add_scatter(
        x=[0, top], y=[0, top], mode="lines", name="offered",
        line={"color": MUTED, "dash": "dot", "width": 1},
    )  # fmt: skip
    return fig


def refused_figure(report: Mapping[str, Any]) -> go.Figure:
    """Requests refused [req/s] against offered [req/s] per user and policy: those no
    instance could serve within the user's hard latency bound (dropped requests, turned away by
    full instances, are not counted here)."""
    if not any(report["policies"].values()):
        return empty_figure("no rates run")
    return _per_user_figure(report, "refused_rps", "refused [req/s]")[0]


def max_latency_figure(
    report: Mapping[str, Any], bounds_ms: Mapping[str, float] | None = None
) -> go.Figure:
    """Maximum latency [ms] against offered rate [req/s] per user and policy; each user's
    latency bound [ms] from ``bounds_ms`` drawn as a horizontal line."""
    if not any(report["policies"].values()):
        return empty_figure("no rates run")
    fig, _ = _per_user_figure(report, "max_latency_ms", "maximum latency [ms]")
    for user, bound in (bounds_ms or {}).items():
        fig.add_hline(
            y=bound, line={"color": MUTED, "dash": "dot"},
            annotation_text=f"{display_name(report.get('names', {}), user)} bound {bound:g} ms",
            annotation_font_color=MUTED, annotation_position="bottom right",
        )  # fmt: skip
    return fig


def cost_figure(report: Mapping[str, Any]) -> go.Figure:
    """What each user's served requests cost [price units/s] against the offered rate
    [req/s], per user and policy (the instances' prices have no currency)."""
    if not any(report["policies"].values()):
        return empty_figure("no rates run")
    return _per_user_figure(report, "cost_per_s", "cost [price units/s]")[0]


def instance_load_figure(report: Mapping[str, Any], policy: str) -> go.Figure:
    """Served [req/s] per instance against offered rate [req/s] under one ``policy``."""
    points = report["policies"].get(policy) or []
    if not points:
        return empty_figure(f"{policy} not run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for j, inst in enumerate(points[0]["instances"]):
        fig.add_scatter(
            x=[p["offered_rps"] for p in points],
            y=[p["instances"][inst] for p in points],
            mode="lines", name=display_name(report.get("names", {}), inst, alias=False),
            hovertemplate=f"{display_name(report.get('names', {}), inst)}<br>"
            "%{x:g} req/s offered: %{y:,.1f} req/s served<extra></extra>",
            line={"color": site_colour(j), "width": 3},
        )  # fmt: skip
    fig.update_xaxes(title_text="offered per user [req/s]")
    fig.update_yaxes(title_text="served by instance [req/s]")
    return fig


# LLM inference -----------------------------------------------------------------------------------


def round_label(entry: Mapping[str, Any]) -> str:
    """``c=64`` for a fixed-concurrency round, ``λ=2 req/s`` for a Poisson round."""
    if entry.get("concurrency") is not None:
        return f"c={entry['concurrency']}"
    return f"λ={entry['rate_rps']:g} req/s"


def ttft_cdf_figure(cdf: Mapping[str, Sequence[Mapping[str, Any]]]) -> go.Figure:
    """Cumulative share of requests [%] against TTFT [ms, log] per policy and round.

    cdf : {policy: [{"concurrency", "rate_rps", "ttft_ms": [quantiles at 0, 1, …, 100 %]}]}
    (:func:`twin.whatif.report.ttft_cdf`)."""
    if not any(cdf.values()):
        return empty_figure("no rounds run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for policy, rounds in cdf.items():
        for k, entry in enumerate(rounds):
            values = entry["ttft_ms"]
            share = [100.0 * i / (len(values) - 1) for i in range(len(values))]
            fig.add_scatter(
                x=values, y=share, mode="lines", name=policy, legendgroup=policy,
                showlegend=k == 0, hovertext=round_label(entry),
                line={"color": policy_colour(policy), "width": 2},
                opacity=0.35 + 0.65 * (k + 1) / len(rounds),
            )  # fmt: skip
    fig.update_xaxes(title_text="time to first token [ms]", type="log")
    fig.update_yaxes(title_text="requests [%]", range=[0, 100])
    return fig


def ttft_rounds_figure(report: Mapping[str, Any]) -> go.Figure:
    """TTFT p50 (dotted) and p95 (solid) [ms, log] per round, one colour per policy."""
    policies = report["policies"]
    if not any(policies.values()):
        return empty_figure("no rounds run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for policy, rounds in policies.items():
        labels = [round_label(r) for r in rounds]
        for key, dash in (("p95", "solid"), ("p50", "dot")):
            fig.add_scatter(
                x=labels, y=[r["ttft_ms"][key] for r in rounds], mode="lines+markers",
                name=f"{policy} {key}", line={"color": policy_colour(policy), "dash": dash},
            )  # fmt: skip
    fig.update_xaxes(title_text="round")
    fig.update_yaxes(title_text="TTFT [ms]", type="log")
    return fig


def entropy_figure(report: Mapping[str, Any]) -> go.Figure:
    """Network-wide entropy H(R) [bits] before (grey) and after each round, per policy."""
    policies = report["policies"]
    if not any(policies.values()):
        return empty_figure("no rounds run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}, barmode="group"))
    first = next(iter(policies.values()))
    labels = [round_label(r) for r in first]
    fig.add_bar(
        x=labels, y=[r["entropy_before_bits"] for r in first], name="before", marker_color=MUTED
    )
    for policy, rounds in policies.items():
        fig.add_bar(
            x=[round_label(r) for r in rounds],
            y=[r["entropy_after_bits"] for r in rounds],
            name=f"after · {policy}",
            marker_color=policy_colour(policy),
        )
    fig.update_xaxes(title_text="round")
    fig.update_yaxes(title_text="network entropy H(R) [bits]")
    return fig


def pareto_figure(
    points: Mapping[str, Sequence[tuple[float, float, str]]],
    x_title: str,
    log_x: bool = False,
) -> go.Figure:
    """Emissions [kgCO2] against a cost on x (``x_title`` names it with its unit), one marker
    per (x, emissions, label) and one colour per policy; lower-left is better. Labels show on
    hover only: markers of different policies can sit on one spot, and printed labels would
    run into each other. ``log_x`` makes x logarithmic."""
    if not any(points.values()):
        return empty_figure("nothing to compare")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for policy, rows in points.items():
        fig.add_scatter(
            x=[r[0] for r in rows], y=[r[1] for r in rows], text=[r[2] for r in rows],
            mode="markers", name=policy,
            hovertemplate=f"{policy} · %{{text}}<br>%{{x:,.1f}} · %{{y:,.1f}} kgCO2<extra></extra>",
            marker={"color": policy_colour(policy), "size": 12}, cliponaxis=False,
        )  # fmt: skip
    fig.update_xaxes(title_text=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title_text="emissions [kgCO2]")
    return fig


def ioc_pareto_points(report: Mapping[str, Any]) -> dict[str, list[tuple[float, float, str]]]:
    """(TTFT p95 [ms], emissions [kgCO2], round label) per round, per policy."""
    return {
        policy: [(r["ttft_ms"]["p95"], r["emissions_kg"], round_label(r)) for r in rounds]
        for policy, rounds in report["policies"].items()
    }


def ioc_cost_points(report: Mapping[str, Any]) -> dict[str, list[tuple[float, float, str]]]:
    """(energy cost [CNY], emissions [kgCO2], round label) per priced round, per policy."""
    return {
        policy: [
            (r["cost_cny"], r["emissions_kg"], round_label(r))
            for r in rounds
            if r["cost_cny"] is not None
        ]
        for policy, rounds in report["policies"].items()
    }


# carbon shift ------------------------------------------------------------------------------------


def intensity_figure(report: Mapping[str, Any]) -> go.Figure:
    """Each site's effective carbon intensity outlook [gCO2/kWh] over the hours ahead [h]; a
    plan on the store names each site's outlook source in the legend (``bj-yizhuang ·
    forecast``, ``… · profile``)."""
    outlook = report["intensity_g_per_kwh"]
    if not outlook:
        return empty_figure("no sites")
    sources = report.get("outlook_source", {})
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for k, (site, values) in enumerate(outlook.items()):
        name = f"{site} · {sources[site]}" if site in sources else site
        fig.add_scatter(
            x=list(range(len(values))), y=values, mode="lines", name=name,
            line={"color": site_colour(k), "width": 3, "shape": "hv"},
        )  # fmt: skip
    fig.update_xaxes(title_text="hours from the plan's start [h]")
    fig.update_yaxes(title_text="effective intensity [gCO2/kWh]")
    return fig


def hourly_emissions_figure(report: Mapping[str, Any]) -> go.Figure:
    """Emissions per hour [kgCO2] of each policy's plan over the hours ahead [h]."""
    policies = report["policies"]
    if not policies:
        return empty_figure("no policies run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for policy, entry in policies.items():
        values = entry["emissions_per_hour_kg"]
        fig.add_scatter(
            x=list(range(len(values))), y=values, mode="lines", name=policy,
            line={"color": policy_colour(policy), "width": 3, "shape": "hv"},
        )  # fmt: skip
    fig.update_xaxes(title_text="hours from the plan's start [h]")
    fig.update_yaxes(title_text="emissions [kgCO2 per h]")
    return fig


def carbon_pareto_points(report: Mapping[str, Any]) -> dict[str, list[tuple[float, float, str]]]:
    """(mean delay [h], emissions [kgCO2], label) per policy."""
    return {
        policy: [(e["mean_delay_h"], e["emissions_kg"], f"{e['energy_kwh']:,.0f} kWh")]
        for policy, e in report["policies"].items()
    }


def carbon_cost_points(report: Mapping[str, Any]) -> dict[str, list[tuple[float, float, str]]]:
    """(energy cost [CNY], emissions [kgCO2], mean delay) per policy whose plan is priced."""
    return {
        policy: [(e["cost_cny"], e["emissions_kg"], f"{e['mean_delay_h']:.1f} h delay")]
        for policy, e in report["policies"].items()
        if e["cost_cny"] is not None
    }


def jobs_per_site_figure(report: Mapping[str, Any]) -> go.Figure:
    """Jobs [count] placed at each site, stacked per policy."""
    policies = report["policies"]
    if not policies:
        return empty_figure("no policies run")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}, barmode="stack"))
    sites = list(report["intensity_g_per_kwh"])
    for k, site in enumerate(sites):
        fig.add_bar(
            x=list(policies), y=[e["jobs_per_site"].get(site, 0) for e in policies.values()],
            name=site, marker_color=site_colour(k),
        )  # fmt: skip
    fig.update_xaxes(title_text="policy")
    fig.update_yaxes(title_text="jobs [count]")
    return fig


PLANNED_OPACITY = 0.45
"""The planned bar of a policy is its colour at this opacity, the realised bar is solid."""


def planned_realised_figure(report: Mapping[str, Any]) -> go.Figure:
    """Per policy of a plan on the store, the planned and the realised emissions [kgCO2] of
    the same energy (the plan's energy in hours the store holds after the start), side by
    side; the realised bar is labelled with that energy's share of the plan [%], which the
    hover repeats with the plan's energy [kWh]. A policy with nothing known
    after the start has no bars; a message when no policy has any."""
    known = {
        policy: (e["realised"], e["energy_kwh"])
        for policy, e in report["policies"].items()
        if e.get("realised")
    }
    if not known:
        return empty_figure(
            f"the store holds nothing after the plan's start ({report.get('start', '?')}): "
            "no realised emissions to compare"
        )
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}, barmode="relative"))
    for policy, (realised, energy_kwh) in known.items():
        share = f"{realised['energy_share']:.0%} of the plan's {energy_kwh:,.0f} kWh"
        fig.add_bar(
            x=[[policy, policy], ["planned", "realised"]],
            y=[realised["planned_emissions_kg"], realised["emissions_kg"]],
            text=["", f"{realised['energy_share']:.0%} of plan"],
            textposition="outside",
            textfont={"color": MUTED, "size": 11},
            constraintext="none",
            cliponaxis=False,
            customdata=["planned", "realised"],
            name=policy,
            marker={"color": policy_colour(policy), "opacity": [PLANNED_OPACITY, 1.0]},
            hovertemplate=(
                f"{policy} · %{{customdata}}<br>%{{y:,.0f}} kgCO2<br>{share}<extra></extra>"
            ),
        )
    fig.update_layout(uniformtext={"minsize": 10, "mode": "hide"})
    fig.update_xaxes(title_text="policy", tickangle=0, tickfont={"size": 11})
    fig.update_yaxes(title_text="emissions of the same energy [kgCO2]")
    return fig


def storage_tradeoff_figure(report: Mapping[str, Any]) -> go.Figure:
    """Per policy, energy cost [CNY] against emissions [kgCO2] without the sites' batteries
    (open marker) and with them (filled), joined by a line; a plan whose cost is not known has
    no points."""
    priced = {
        policy: e["storage"]
        for policy, e in report["policies"].items()
        if e["storage"]["cost_without_cny"] is not None
        and e["storage"]["cost_with_cny"] is not None
    }
    if not priced:
        return empty_figure("no plan has a known cost")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for policy, s in priced.items():
        colour = policy_colour(policy)
        fig.add_scatter(
            x=[s["cost_without_cny"], s["cost_with_cny"]],
            y=[s["emissions_without_kg"], s["emissions_with_kg"]],
            mode="lines+markers", name=policy, customdata=["without", "with"],
            line={"color": colour, "width": 2},
            marker={"color": [BACKGROUND_MARKER, colour], "size": 13,
                    "line": {"color": colour, "width": 2}, "symbol": ["circle", "circle"]},
            hovertemplate=(
                f"{policy} · %{{customdata}} storage<br>%{{x:,.0f}} CNY<br>"
                "%{y:,.0f} kgCO2<extra></extra>"
            ),
        )  # fmt: skip
    fig.update_xaxes(title_text="energy cost at the time-of-use tariff [CNY]")
    fig.update_yaxes(title_text="emissions [kgCO2]")
    return fig


BACKGROUND_MARKER = "rgba(0,0,0,0)"
"""The fill of an open marker (the plan without storage)."""


def storage_soc_figure(report: Mapping[str, Any], policy: str) -> go.Figure:
    """State of charge [kWh] of each site's battery hour by hour under ``policy``'s plan, with
    each battery's capacity as a dotted line of the same colour."""
    entry = report["policies"].get(policy)
    batteries = report["storage"]["batteries"]
    if entry is None or not batteries:
        return empty_figure("no batteries" if entry else f"{policy} not run")
    sites = list(report["intensity_g_per_kwh"])
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for site, soc in entry["storage"]["soc_kwh"].items():
        colour = site_colour(sites.index(site)) if site in sites else MUTED
        fig.add_scatter(
            x=list(range(len(soc))), y=soc, mode="lines", name=site,
            line={"color": colour, "width": 3},
        )  # fmt: skip
        fig.add_hline(
            y=batteries[site]["capacity_kwh"], line={"color": colour, "dash": "dot", "width": 1}
        )
    fig.update_xaxes(title_text="hours from the plan's start [h]")
    fig.update_yaxes(title_text="state of charge [kWh]", rangemode="tozero")
    return fig


# fork from stored time ---------------------------------------------------------------------------

ACTUAL_COLOUR = MUTED
"""The actual side of a fork: neutral, so each policy's colour stands out against it."""


def _fork_sides(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str]]:
    """(name, side, colour): what actually happened (when stored), then each policy's
    simulated side."""
    sides = [("actual", report["actual"], ACTUAL_COLOUR)] if report["actual"] else []
    sides += [
        (policy, entry["simulated"], policy_colour(policy))
        for policy, entry in report["policies"].items()
    ]
    return sides


def _fork_line(name: str, colour: str) -> dict[str, Any]:
    width, dash = (4, "dash") if name == "actual" else (3, "solid")
    return {"color": colour, "width": width, "dash": dash}


def fork_entropy_figure(report: Mapping[str, Any]) -> go.Figure:
    """Network-wide entropy H(R) [bits] at the fork time (hour 0, the stored value every side
    starts from) and at the end of each horizon hour, per side."""
    sides = _fork_sides(report)
    if not sides:
        return empty_figure("no sides to compare")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    before = report["before"]["network_entropy_bits"]
    for name, side, colour in sides:
        values = side["hourly_entropy_bits"]
        fig.add_scatter(
            x=list(range(len(values) + 1)), y=[before, *values], mode="lines+markers", name=name,
            line=_fork_line(name, colour),
            hovertemplate=f"{name}<br>hour %{{x}}: %{{y:.2f}} bits<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(title_text="hours after the fork [h]", dtick=1, range=_fork_hours(report))
    fig.update_yaxes(title_text="network entropy H(R) [bits]")
    return fig


def fork_util_figure(report: Mapping[str, Any]) -> go.Figure:
    """Fleet mean compute utilisation c [0-1] in each horizon hour (drawn at the hour's
    middle), per side."""
    sides = _fork_sides(report)
    if not sides:
        return empty_figure("no sides to compare")
    fig = go.Figure(layout=base_layout(legend=_legend_top(), margin={"t": 40}))
    for name, side, colour in sides:
        values = side["hourly_c"]
        fig.add_scatter(
            x=[k + 0.5 for k in range(len(values))], y=values, mode="lines+markers", name=name,
            line=_fork_line(name, colour),
            hovertemplate=f"{name}<br>hour %{{x:.1f}}: c = %{{y:.2f}}<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(title_text="hours after the fork [h]", dtick=1, range=_fork_hours(report))
    fig.update_yaxes(title_text="mean compute utilisation c [0-1]", range=[0, 1])
    return fig


def _fork_hours(report: Mapping[str, Any]) -> list[float]:
    """The x range [h] both fork charts share: the fork time to the horizon's end."""
    return [-0.2, report["horizon_h"] + 0.2]
