"""The fleet KPI cards the Overview shows live and the Replay page shows at its moment: which
cards, their markup and the texts written for a set of KPIs."""

from __future__ import annotations

from datetime import timedelta

from dash import html
from dash.development.base_component import Component

from dashboard import figures, ids
from dashboard.components import kpi_card_frame
from twin.views.overview import FALLBACK_PUE, STALE_AFTER, OverviewKpis

KPI_CARDS: tuple[tuple[str, str], ...] = (
    ("nodes", "Nodes reporting"),
    ("util", "Fleet compute utilisation"),
    ("power", "Facility power"),
    ("renewable", "Renewable share"),
    ("carbon", "Carbon intensity"),
)
"""(name, label) of the KPI cards, left to right."""


def kpi_card(
    name: str, label: str, parts: tuple[str, str, str] = (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
) -> Component:
    """The KPI card ``name``; ``parts`` are the id types of its value, unit and note."""
    value, unit, note = parts
    return kpi_card_frame(
        label,
        html.Span("…", id=ids.kpi(value, name), className="kpi-value"),
        html.Span(id=ids.kpi(unit, name), className="kpi-unit"),
        html.Div(id=ids.kpi(note, name), className="kpi-note"),
    )


def kpi_texts(
    k: OverviewKpis, stale_after: timedelta = STALE_AFTER
) -> dict[str, tuple[str, str, str]]:
    """Per KPI card name, the (value, unit, note) texts shown for ``k`` (computed with node
    readings fresh within ``stale_after``)."""
    power, power_unit = figures.format_power(k.facility_power_kw)
    power_note = f"partly modelled (PUE {FALLBACK_PUE:g})" if k.facility_modelled else "metered"
    stale = f"fresh within {stale_after.total_seconds():.0f} s"
    return {
        "nodes": (f"{k.nodes_reporting} / {k.nodes_expected}", "nodes", stale),
        "util": (figures.format_share(k.compute_util), "%", "mean of max(CPU, GPU)"),
        "power": (power, power_unit, power_note),
        "renewable": (figures.format_share(k.renewable_share), "%", "(PV + wind) / facility"),
        "carbon": (
            figures.format_intensity(k.carbon_intensity_g_per_kwh),
            "gCO2/kWh",
            "average · grid import",
        ),
    }
