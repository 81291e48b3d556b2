"""Figures of a large fleet (100 sites, 1,000 nodes) stay legible: a bounded number of legend
entries and labels, the rest named on hover."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from dashboard import energy_figures, entropy_figures, figures
from twin.views.overview import MAX_SITE_LINES, shown_sites

T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")
SITES = [f"site-{i:03d}" for i in range(100)]
NODES = [f"node-{i:04d}" for i in range(1000)]


def _series(windows: int = 6) -> pd.DataFrame:
    """Per-site series where site k's utilisation is (k mod 37) / 40 and its power 10 (k+1)."""
    rows = [
        {
            "ts": T0 + pd.Timedelta(minutes=5 * w),
            "site": site,
            "util": (k % 37) / 40 + 0.001 * w,
            "facility_power_kw": 10.0 * (k + 1),
            "intensity_g_per_kwh": 300.0 + k,
        }
        for w in range(windows)
        for k, site in enumerate(SITES)
    ]
    return pd.DataFrame(rows)


def _legend_entries(fig: object) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False]  # type: ignore[attr-defined]


def test_shown_sites_are_the_busiest_unless_some_are_picked() -> None:
    series = _series()
    busiest = shown_sites(series, SITES)
    assert len(busiest) == MAX_SITE_LINES
    # utilisation peaks at k mod 37 == 36 (sites 36 and 73), then 35 and 72 …; ties go to power
    assert {"site-036", "site-073", "site-035", "site-072"} <= set(busiest)
    assert busiest == sorted(busiest)  # fleet order
    assert shown_sites(series, SITES, picked=["site-099", "site-001", "nowhere"]) == [
        "site-001",
        "site-099",
    ]
    assert shown_sites(series, SITES[:5]) == SITES[:5]
    assert len(shown_sites(series, SITES, picked=SITES)) == MAX_SITE_LINES


def test_site_series_at_100_sites_has_a_bounded_legend_and_a_band_for_the_rest() -> None:
    series = _series()
    shown = shown_sites(series, SITES)
    fig = figures.site_series_figure(series, SITES, shown)
    legend = _legend_entries(fig)
    assert len(legend) <= MAX_SITE_LINES + 1
    assert legend == ["other 90 sites (range)", *shown]
    # per panel: band low, band high, then one line per shown site
    assert len(fig.data) == 3 * (2 + len(shown))
    low, high = fig.data[0], fig.data[1]
    others = series[~series["site"].isin(shown)]
    first = others[others["ts"] == T0]["util"]
    assert low.y[0] == pytest.approx(first.min() * 100)
    assert high.y[0] == pytest.approx(first.max() * 100)
    assert high.fill == "tonexty"
    power_of_first_shown = fig.data[2 + len(shown) + 2]
    assert power_of_first_shown.name == shown[0] and power_of_first_shown.yaxis == "y2"
    k = SITES.index(shown[0])
    assert list(power_of_first_shown.y) == [10.0 * (k + 1)] * 6


def test_series_extension_matches_the_traces_of_a_figure_with_a_band() -> None:
    series = _series()
    shown = shown_sites(series, SITES)
    fig = figures.site_series_figure(series, SITES, shown)
    newer = _series(8).iloc[6 * 100 :]
    update, indices, _ = figures.series_extension(newer, SITES, 288, shown)  # type: ignore[misc]
    assert indices == list(range(len(fig.data)))
    assert all(len(x) == 2 for x in update["x"])
    site_trace = 2  # panel 0, first shown site
    k = SITES.index(shown[0])
    assert update["y"][site_trace][0] == pytest.approx(((k % 37) / 40 + 0.006) * 100)


def test_site_series_of_a_small_fleet_draws_every_site_without_a_band() -> None:
    series = _series()
    small = series[series["site"].isin(SITES[:4])]
    fig = figures.site_series_figure(small, SITES[:4])
    assert _legend_entries(fig) == SITES[:4]
    assert not any(t.fill for t in fig.data)


def _sites_now() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "site": SITES,
            "name": [f"Site <{i}>" for i in range(100)],
            "latitude": rng.uniform(20, 45, 100),
            "longitude": rng.uniform(90, 125, 100),
            "util": [(k % 37) / 40 for k in range(100)],
            "facility_power_kw": [10.0 * (k + 1) for k in range(100)],
            "nodes_reporting": [10] * 100,
            "nodes_expected": [10] * 100,
        }
    )


def test_map_labels_only_the_busiest_sites_and_names_every_site_on_hover() -> None:
    links = pd.DataFrame(columns=["link", "lat_a", "lon_a", "lat_b", "lon_b", "util", "latency_ms"])
    fig = figures.site_map_figure(_sites_now(), links)
    sites = next(t for t in fig.data if t.mode == "markers+text")
    labelled = [t for t in sites.text if t]
    assert len(labelled) == figures.MAX_MAP_LABELS
    assert {"site-036", "site-073", "site-035", "site-072"} <= set(labelled)
    assert [row[6] for row in sites.customdata] == SITES  # every id on hover
    assert [row[0] for row in sites.customdata][:2] == ["Site &lt;0&gt;", "Site &lt;1&gt;"]
    assert "%{customdata[6]}" in sites.hovertemplate


def _node_matrix() -> pd.DataFrame:
    times = pd.date_range(T0, periods=4, freq="15min")
    values = np.linspace(0, 1, len(NODES) * len(times)).reshape(len(NODES), len(times))
    return pd.DataFrame(values, index=pd.Index(NODES, name="id"), columns=times)


def test_node_heatmap_of_1000_nodes_drops_tick_labels_and_names_nodes_on_hover() -> None:
    fig = figures.heatmap_figure(_node_matrix())
    heat = fig.data[0]
    assert list(heat.y) == NODES
    assert "%{y}" in heat.hovertemplate
    assert fig.layout.yaxis.showticklabels is False
    assert "hover" in fig.layout.yaxis.title.text
    few = figures.heatmap_figure(_node_matrix().iloc[:20])
    assert few.layout.yaxis.showticklabels is True
    assert few.layout.yaxis.title.text == "Node"


def test_entropy_heatmap_of_1000_nodes_names_nodes_on_hover() -> None:
    fig = entropy_figures.entropy_heatmap_figure(_node_matrix() * 2.0)
    assert list(fig.data[0].y) == NODES
    assert "%{y}" in fig.data[0].hovertemplate
    assert fig.layout.yaxis.showticklabels is False


def _site_energy() -> pd.DataFrame:
    times = pd.date_range(T0, periods=24, freq="5min")
    return pd.DataFrame(
        {
            "ts": np.repeat(times, len(SITES)),
            "site": SITES * len(times),
            "intensity_avg_g_per_kwh": 300.0,
            "emissions_kg_per_h": np.tile([float(k + 1) for k in range(100)], len(times)),
        }
    )


def test_energy_heatmap_of_100_sites_names_sites_on_hover() -> None:
    fig = energy_figures.intensity_heatmap(_site_energy(), SITES)
    assert list(fig.data[0].y) == SITES
    assert "%{y}" in fig.data[0].hovertemplate
    assert fig.layout.yaxis.showticklabels is False


def test_emissions_of_100_sites_show_the_largest_emitters_and_the_sum_of_the_rest() -> None:
    every = timedelta(minutes=5)
    fig = energy_figures.emissions_figure(_site_energy(), SITES, every)
    names = [t.name for t in fig.data]
    assert len(names) == MAX_SITE_LINES + 1
    assert names[:-1] == SITES[-MAX_SITE_LINES:]  # the largest emitters, fleet order
    assert names[-1] == f"other {100 - MAX_SITE_LINES} sites (sum)"
    table = energy_figures.cumulative_emissions(_site_energy(), every)
    rest = table[SITES[: 100 - MAX_SITE_LINES]].sum(axis=1)
    assert list(fig.data[-1].y) == pytest.approx(list(rest))
